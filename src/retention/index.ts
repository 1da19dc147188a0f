export type { RetentionDeps } from './deps.js';
export { anonymizeOld, type AnonymizeResult } from './anonymize.js';
export { eraseRecipient, type EraseResult } from './erase.js';
export { housekeeping, type HousekeepingResult } from './housekeeping.js';
export { purgeExpired, type PurgeResult } from './purge.js';
export { RETENTION_JOBS, startRetentionScheduler, type RetentionScheduler } from './scheduler.js';
export { PURGE_BATCH } from './batches.js';
