export { cancelMessage } from './cancel.js';
export { getMessage, listMessages, messageSummary, messageWithBodies, type MessageFilter } from './queries.js';
export { type ResendDeps, resendMessage } from './resend.js';
export { indexPending, SearchIndex } from './search-index.js';
export { bucketStats, messageStats } from './stats.js';
