export { type Verdict, classifyClick, classifyOpen } from './classify.js';
export { instrumentHtml, MAX_TRACKED_URL, trackableUrl } from './instrument.js';
export { linkOrigin, TrackingService } from './service.js';
export { createTrackingToken, type TrackingClaim, verifyTrackingToken } from './token.js';
export { trackingKey } from './key.js';
