import type { RetentionDeps } from './deps.js';
import { DAY_MS } from '../platform/time.js';
import { RETENTION_BATCH, yieldToOthers } from './batches.js';
import { SCRUB_COLUMNS, scrubMessages } from './scrub.js';

export interface AnonymizeResult {
  messages: number;
  attachments: number;
  /** Contents deleted with the last message that referenced them. */
  blobs: number;
  batches: number;
}

/**
 * Anonymizes messages older than EMAIL_AUTO_ANONYMIZE_AFTER_DAYS, in batches. Messages still
 * queued or being sent are left alone: their body is still needed, and retention removes them.
 */
export async function anonymizeOld(
  s: RetentionDeps,
  now: number,
  onBatch?: () => Promise<void>,
): Promise<AnonymizeResult> {
  const cutoff = now - s.config.email.autoAnonymizeAfterDays * DAY_MS;
  const total: AnonymizeResult = { messages: 0, attachments: 0, blobs: 0, batches: 0 };
  for (;;) {
    const found = await s.db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('email_messages')
        .select([...SCRUB_COLUMNS])
        .where('anonymized_at', 'is', null)
        .where('created_at', '<', cutoff)
        .where('status', 'not in', ['scheduled', 'queued', 'sending'])
        .orderBy('created_at')
        .limit(RETENTION_BATCH)
        .execute();
      const r = await scrubMessages(trx, s.config, s.dialect, s.events, rows, now, 'anonymized');
      total.messages += r.messages;
      total.attachments += r.attachments;
      total.blobs += r.blobs;
      return rows.length;
    });
    if (found === 0) break;
    total.batches++;
    await onBatch?.();
    if (found < RETENTION_BATCH) break;
    await yieldToOthers();
  }
  return total;
}
