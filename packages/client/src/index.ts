export { PostierClient, type PostierClientOptions, type SendOptions } from './client.js';
export { PostierError } from './errors.js';
export type * from './types.js';
