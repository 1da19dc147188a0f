import { deleteUnreferenced, deleteUnreferencedBodies } from '../content/index.js';
import type { RetentionDeps } from './deps.js';
import { DAY_MS } from '../platform/time.js';
import { PURGE_BATCH, restAfter } from './batches.js';

export interface PurgeResult {
  messages: number;
  attachments: number;
  /** Contents deleted with the last message that referenced them. */
  blobs: number;
  events: number;
  batches: number;
}

/**
 * Deletes messages older than EMAIL_AUDIT_RETENTION_DAYS with their attachments and events,
 * oldest first, one short transaction per batch with a pause as long after it, and the contents
 * no message references any more. `onBatch` lets the scheduler extend its lock.
 */
export async function purgeExpired(s: RetentionDeps, now: number, onBatch?: () => Promise<void>): Promise<PurgeResult> {
  const cutoff = now - s.config.email.auditRetentionDays * DAY_MS;
  const total: PurgeResult = { messages: 0, attachments: 0, blobs: 0, events: 0, batches: 0 };
  for (;;) {
    const started = performance.now();
    const done = await s.db.transaction().execute(async (trx) => {
      const batch = await trx
        .selectFrom('email_messages')
        .select(['id', 'body_id'])
        .where('created_at', '<', cutoff)
        .orderBy('created_at')
        .limit(PURGE_BATCH)
        .execute();
      const ids = batch.map((r) => r.id);
      if (ids.length === 0) return 0;
      // Explicit child deletes rather than relying on ON DELETE CASCADE: the counts are reported.
      const events = await trx.deleteFrom('email_events').where('message_id', 'in', ids).executeTakeFirst();
      const held = await trx
        .selectFrom('email_attachments')
        .select('blob_sha256')
        .distinct()
        .where('message_id', 'in', ids)
        .where('blob_sha256', 'is not', null)
        .execute();
      const raws = await trx
        .selectFrom('email_messages')
        .select('raw_sha256')
        .distinct()
        .where('id', 'in', ids)
        .where('raw_sha256', 'is not', null)
        .execute();
      const attachments = await trx.deleteFrom('email_attachments').where('message_id', 'in', ids).executeTakeFirst();
      const messages = await trx.deleteFrom('email_messages').where('id', 'in', ids).executeTakeFirst();
      total.blobs += await deleteUnreferenced(trx, s.dialect, [
        ...held.map((r) => r.blob_sha256!),
        ...raws.map((r) => r.raw_sha256!),
      ]);
      await deleteUnreferencedBodies(trx, [
        ...new Set(batch.filter((r) => r.body_id != null).map((r) => Number(r.body_id))),
      ]);
      total.events += Number(events.numDeletedRows);
      total.attachments += Number(attachments.numDeletedRows);
      total.messages += Number(messages.numDeletedRows);
      return ids.length;
    });
    if (done === 0) break;
    total.batches++;
    await onBatch?.();
    if (done < PURGE_BATCH) break;
    // As long a pause as the batch took: sends and deliveries get the write lock at least half
    // the time (a day of a million messages still purges in minutes).
    await restAfter(performance.now() - started);
  }
  return total;
}
