import { AppError } from '../platform/errors.js';
import { DAY_MS } from '../platform/time.js';

export const MAX_SCHEDULE_AHEAD_MS = 30 * DAY_MS;
// Clocks of callers drift: "now" sent a little late is still "now", not an error.
const PAST_TOLERANCE_MS = 60_000;

/** `send_at` as epoch ms: ISO 8601 with a time zone, at most 30 days ahead, not in the past. */
export function parseSendAt(value: string, now: number): number {
  const at = /(Z|[+-]\d{2}:?\d{2})$/i.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(at)) {
    throw new AppError(
      'validation_failed',
      'send_at: expected an ISO 8601 date-time with a time zone, e.g. 2026-03-01T08:00:00Z',
      { field: 'send_at' },
    );
  }
  if (at < now - PAST_TOLERANCE_MS)
    throw new AppError('validation_failed', 'send_at is in the past', { field: 'send_at', send_at: value });
  if (at > now + MAX_SCHEDULE_AHEAD_MS) {
    throw new AppError('validation_failed', 'send_at is more than 30 days ahead', {
      field: 'send_at',
      send_at: value,
      max_days: 30,
    });
  }
  return Math.max(at, now);
}
