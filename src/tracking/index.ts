export { type Verdict, classifyClick, classifyOpen } from './classify.js';
export { trackingHttp } from './http.js';
export { instrumentHtml } from './instrument.js';
export { linkWithoutQuery, TrackingService } from './service.js';
export { createTrackingToken, type TrackingClaim, verifyTrackingToken } from './token.js';
export { trackingKey } from './key.js';
