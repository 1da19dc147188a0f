/** Times are stored as epoch milliseconds (integers on both databases) and shown as ISO 8601. */
export const iso = (ms: number | null | undefined): string | null =>
  ms == null ? null : new Date(Number(ms)).toISOString();

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
