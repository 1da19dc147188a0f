export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * Delay before attempt `attempt + 1`: exponential (base, 2×base, 4×base, …) capped at maxMs,
 * with "equal jitter": half fixed, half random. The fixed half keeps a struggling relay from
 * being hit again too soon; the random half spreads a burst of failures so they don't all
 * come back at the same instant.
 */
export function retryDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}
