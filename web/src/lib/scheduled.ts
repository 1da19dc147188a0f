/** What the scheduled-send check reads of a message (the message page has all of it). */
export interface SchedulableMessage {
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  events: { type: string; data: unknown }[];
}

/**
 * When a message waits for its `send_at`, the time it will go; otherwise null. A `scheduled`
 * message says so; on an older server (no such status) a message is scheduled when it was queued
 * with a `send_at` (its queued event says so), has not been tried, and its next attempt is ahead.
 */
export function scheduledFor(m: SchedulableMessage, now: number): string | null {
  // Servers with the `scheduled` status say so themselves.
  if (m.status === 'scheduled') return m.next_attempt_at;
  if (m.status !== 'queued' || m.attempts > 0 || !m.next_attempt_at) return null;
  if (!(Date.parse(m.next_attempt_at) > now)) return null;
  const queued = m.events.find((e) => e.type === 'queued');
  const data = queued?.data;
  const sendAt = data && typeof data === 'object' ? (data as Record<string, unknown>).send_at : undefined;
  return typeof sendAt === 'string' ? m.next_attempt_at : null;
}
