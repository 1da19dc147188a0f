/** Times are stored as epoch milliseconds (integers on both databases) and shown as ISO 8601. */
export const iso = (ms: number | null | undefined): string | null =>
  ms == null ? null : new Date(Number(ms)).toISOString();

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/**
 * Amazon SNS MessageIds are remembered this long: the feedback receiver refuses older messages
 * (replays), and retention housekeeping deletes older ids. Here, not in the feedback feature,
 * because the retention jobs also run on the delivery thread, which must not load feedback's
 * SMTP listener.
 */
export const SNS_DEDUPE_DAYS = 7;
