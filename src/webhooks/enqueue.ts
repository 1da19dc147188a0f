import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import type { NewEvent } from '../events/index.js';
import { newId } from '../platform/ids.js';

/** The message events an endpoint can subscribe to. */
// partially_sent: some envelope recipients accepted, others deferred (final: false) or refused and
// given up (final: true); its details list each recipient with the relay's reply.
export const WEBHOOK_EVENT_TYPES = ['sent', 'partially_sent', 'delivered', 'bounced', 'complaint', 'failed'] as const;
const SUBSCRIBABLE = new Set<string>(WEBHOOK_EVENT_TYPES);

/**
 * Called by recordEvents in the transaction that records the events: a delivery row per
 * subscribed endpoint commits with the status change or not at all (an outbox), so no event is
 * lost or announced without having happened.
 */
export async function enqueueWebhooks(db: Kysely<DB>, events: NewEvent[]): Promise<void> {
  const relevant = events.filter((e) => SUBSCRIBABLE.has(e.type));
  if (relevant.length === 0) return;
  const endpoints = (await db.selectFrom('webhook_endpoints').select(['id', 'event_types']).where('is_active', '=', 1).execute()).map((ep) => ({
    id: ep.id,
    types: new Set(JSON.parse(ep.event_types) as string[]),
  }));
  if (endpoints.length === 0) return;
  const ids = [...new Set(relevant.map((e) => e.messageId))];
  const messages = new Map(
    (
      await db
        .selectFrom('email_messages')
        .select(['id', 'recipient_email', 'template_key', 'category', 'class', 'status', 'smtp_message_id', 'provider_message_id', 'is_test'])
        .where('id', 'in', ids)
        .execute()
    ).map((m) => [m.id, m]),
  );
  const rows = relevant.flatMap((e) => {
    const m = messages.get(e.messageId);
    const payload = JSON.stringify({
      type: `email.${e.type}`,
      timestamp: new Date(e.at).toISOString(),
      data: {
        message_id: e.messageId,
        to: m?.recipient_email ?? null,
        template_key: m?.template_key ?? null,
        category: m?.category ?? null,
        class: m?.class ?? null,
        status: m?.status ?? null,
        smtp_message_id: m?.smtp_message_id ?? null,
        provider_message_id: m?.provider_message_id ?? null,
        test: m?.is_test === 1,
        details: e.data ?? {},
      },
    });
    return endpoints
      .filter((ep) => ep.types.has(e.type))
      .map((ep) => ({
        id: newId(),
        endpoint_id: ep.id,
        message_id: e.messageId,
        event_type: e.type,
        payload,
        status: 'pending' as const,
        attempts: 0,
        next_attempt_at: e.at,
        last_status_code: null,
        last_error: null,
        created_at: e.at,
        completed_at: null,
      }));
  });
  if (rows.length > 0) await db.insertInto('webhook_deliveries').values(rows).execute();
}
