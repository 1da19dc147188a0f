import type { Kysely } from 'kysely';
import { insertRows } from '../platform/db/reused-sql.js';
import type { DB, MessageRow } from '../platform/db/schema.js';
import { enqueueWebhooks } from '../webhooks/enqueue.js';
import { countEvents } from '../observability/event-metrics.js';

/** One row per thing that happens to a message: queued, each attempt, sent, bounced, … */
export interface NewEvent {
  messageId: string;
  type: string;
  at: number;
  data?: Record<string, unknown>;
  /** The message's labels for the metrics, when the caller has its row at hand (not stored). */
  message?: Pick<MessageRow, 'template_key' | 'category' | 'created_at'>;
}

export async function recordEvents(db: Kysely<DB>, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await insertRows(
    db,
    'email_events',
    events.map((e) => ({ message_id: e.messageId, type: e.type, created_at: e.at, data: e.data ? JSON.stringify(e.data) : null })),
  );
  // Same transaction: subscribed endpoints hear of sent/delivered/bounced/complaint/failed.
  await enqueueWebhooks(db, events);
  // Every status change passes here, so this is where the metrics counters are kept.
  await countEvents(db, events).catch(() => {});
}

export const recordEvent = (db: Kysely<DB>, messageId: string, type: string, at: number, data?: Record<string, unknown>): Promise<void> =>
  recordEvents(db, [{ messageId, type, at, data }]);
