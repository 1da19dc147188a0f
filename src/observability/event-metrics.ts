import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import type { NewEvent } from '../events/index.js';
import { deliveryLatency, eventCounters, eventsTotal, smtpReplies } from '../platform/metrics.js';

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Counts recorded events. Labels come from the event data when it carries them (accept does),
 * or from the message row: the one the caller had at hand (the worker), else read on the same
 * connection or transaction (on SQLite another connection would wait for this very
 * transaction). A counter may run ahead if that transaction later rolls back: acceptable for
 * metrics, never for the archive.
 */
export async function countEvents(db: Kysely<DB>, events: NewEvent[]): Promise<void> {
  const needRow = events.filter((e) => !e.message && ((e.type in eventCounters && !(str(e.data?.template_key) && str(e.data?.category))) || e.type === 'sent'));
  const rows = needRow.length
    ? await db
        .selectFrom('email_messages')
        .select(['id', 'template_key', 'category', 'created_at'])
        .where('id', 'in', [...new Set(needRow.map((e) => e.messageId))])
        .execute()
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const e of events) {
    eventsTotal.inc({ type: e.type });
    const row = e.message ?? byId.get(e.messageId);
    const template = str(e.data?.template_key) ?? row?.template_key ?? 'unknown';
    const category = str(e.data?.category) ?? row?.category ?? 'unknown';
    // partially_sent is also recorded while deferred recipients remain: only the final one counts.
    if (e.type !== 'partially_sent' || e.data?.final === true) eventCounters[e.type]?.inc({ template, category });
    if (e.type === 'sent' && row) deliveryLatency.observe({ template }, Math.max(0, e.at - Number(row.created_at)) / 1000);
    const code = e.data?.code;
    if (e.type === 'attempt' && (typeof code === 'number' || typeof code === 'string') && /^\d{3}$/.test(String(code))) {
      smtpReplies.inc({ code: String(code) });
    }
  }
}
