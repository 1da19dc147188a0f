/** Times are stored as epoch milliseconds (integers on both databases) and shown as ISO 8601. */
export const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(Number(ms)).toISOString());
