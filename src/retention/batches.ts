/** Rows per transaction: small enough that a send waiting for the write lock waits milliseconds. */
export const RETENTION_BATCH = 500;

/** Lets queued sends and requests run between two batches (SQLite has one writer). */
export const yieldToOthers = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Messages per purge transaction: each takes its events (about three), its search entry (SQLite)
 * and its body with it, so a batch costs several times its rows; 50 keeps the write lock short
 * enough (about 10 ms on SQLite here) that sends waiting for it are not held up (bench/archive.ts,
 * a day's purge). With the pause after each batch (restAfter) a purge still removes about a
 * thousand messages a second.
 */
export const PURGE_BATCH = 50;

/**
 * After a batch that held the write lock for `ms`: a pause as long (at most a second), so work
 * waiting for the lock (sends, deliveries) gets it between two batches, not only when a batch
 * happens to end as it arrives.
 */
export const restAfter = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, Math.min(1000, Math.max(1, Math.round(ms)))));
