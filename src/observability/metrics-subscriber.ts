import type { NewEvent } from '../events/index.js';
import { deliveryLatency, eventCounters, eventsTotal, smtpReplies } from '../platform/metrics.js';

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * The metrics subscriber of the event log: counts recorded events from the events alone. Labels
 * come from the event data when it carries them (accept does), else from the labels the producer
 * attached (the message row it had at hand); an event with neither counts as `unknown`. It never
 * reads the database. A counter may run ahead if the recording transaction later rolls back:
 * acceptable for metrics, never for the archive.
 */
export function countEvents(events: readonly NewEvent[]): void {
  for (const e of events) {
    eventsTotal.inc({ type: e.type });
    const template = str(e.data?.template_key) ?? e.labels?.template_key ?? 'unknown';
    const category = str(e.data?.category) ?? e.labels?.category ?? 'unknown';
    // partially_sent is also recorded while deferred recipients remain: only the final one counts.
    if (e.type !== 'partially_sent' || e.data?.final === true) eventCounters[e.type]?.inc({ template, category });
    if (e.type === 'sent' && e.labels)
      deliveryLatency.observe({ template }, Math.max(0, e.at - Number(e.labels.created_at)) / 1000);
    const code = e.data?.code;
    if (
      e.type === 'attempt' &&
      (typeof code === 'number' || typeof code === 'string') &&
      /^\d{3}$/.test(String(code))
    ) {
      smtpReplies.inc({ code: String(code) });
    }
  }
}
