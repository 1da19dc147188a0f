export { type CaptureServer, startCaptureServer } from './server.js';
export { startCaptureIfNeeded } from './start.js';
