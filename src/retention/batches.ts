/** Rows per transaction: small enough that a send waiting for the write lock waits milliseconds. */
export const RETENTION_BATCH = 500;

/** Lets queued sends and requests run between two batches (SQLite has one writer). */
export const yieldToOthers = () => new Promise<void>((resolve) => setImmediate(resolve));
