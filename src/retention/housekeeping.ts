import { type Kysely, sql } from 'kysely';
import { BLOB_GRACE_MS, sweepUnreferenced, sweepUnreferencedBodies } from '../content/index.js';
import type { DB } from '../platform/db/schema.js';
import type { RetentionDeps } from './deps.js';
import { DAY_MS, SNS_DEDUPE_DAYS } from '../platform/time.js';
import { RETENTION_BATCH, yieldToOthers } from './batches.js';

export interface HousekeepingResult {
  idempotency_keys: number;
  sns_messages: number;
  webhook_deliveries: number;
  /** Contents nothing referenced for longer than the grace period. */
  content_blobs: number;
  /** Reports received by mail, and applied feedback events, past EMAIL_AUTO_ANONYMIZE_AFTER_DAYS. */
  feedback_reports: number;
  feedback_events: number;
  /** Provider webhook tokens (Mailgun) past their timestamp window. */
  feedback_replay_tokens: number;
  /** Bodies no message references (content/bodies.ts). */
  email_bodies: number;
}

type AgedTable =
  | 'idempotency_keys'
  | 'sns_messages'
  | 'webhook_deliveries'
  | 'feedback_reports'
  | 'feedback_events'
  | 'feedback_replay_tokens';
type AgeColumn = 'expires_at' | 'received_at' | 'completed_at' | 'created_at';

/**
 * Deletes the rows of `table` whose `column` is below `cutoff`, about RETENTION_BATCH per
 * transaction (rows tied on the boundary value go in the same batch), oldest first.
 */
async function deleteBelow(
  db: Kysely<DB>,
  table: AgedTable,
  column: AgeColumn,
  cutoff: number,
  onBatch?: () => Promise<void>,
): Promise<number> {
  let deleted = 0;
  for (;;) {
    // The batch's last value: NULLs (a webhook delivery still in progress) never compare below.
    const edge = await db
      .selectFrom(table)
      .select(sql<number>`${sql.ref(column)}`.as('at'))
      .where(column, '<', cutoff)
      .orderBy(column)
      .offset(RETENTION_BATCH - 1)
      .limit(1)
      .executeTakeFirst();
    const upTo = edge ? Number(edge.at) : cutoff;
    const r = await db
      .deleteFrom(table)
      .where(column, edge ? '<=' : '<', upTo)
      .where(column, '<', cutoff)
      .executeTakeFirst();
    deleted += Number(r.numDeletedRows);
    if (!edge) return deleted;
    await onBatch?.();
    await yieldToOthers();
  }
}

/**
 * Tables that only ever grew: expired idempotency keys (24 h), SNS message ids past the
 * dedupe window (older messages are refused by the receiver, so forgetting them is safe),
 * finished webhook deliveries (with their attempts) past EMAIL_AUDIT_RETENTION_DAYS, like the
 * messages they were about, contents no message references (see content/collect.ts), and the
 * feedback tables.
 */
export async function housekeeping(
  s: RetentionDeps,
  now: number,
  onBatch?: () => Promise<void>,
): Promise<HousekeepingResult> {
  const anonymizeCutoff = now - s.config.email.autoAnonymizeAfterDays * DAY_MS;
  return {
    idempotency_keys: await deleteBelow(s.db, 'idempotency_keys', 'expires_at', now + 1, onBatch),
    sns_messages: await deleteBelow(s.db, 'sns_messages', 'received_at', now - SNS_DEDUPE_DAYS * DAY_MS, onBatch),
    webhook_deliveries: await deleteBelow(
      s.db,
      'webhook_deliveries',
      'completed_at',
      now - s.config.email.auditRetentionDays * DAY_MS,
      onBatch,
    ),
    content_blobs: await sweepUnreferenced(s.db, s.dialect, now - BLOB_GRACE_MS, onBatch, yieldToOthers),
    // Reports hold addresses in clear (their raw bytes cannot be anonymized): they go when the
    // messages they are about are anonymized.
    feedback_reports: await deleteBelow(s.db, 'feedback_reports', 'received_at', anonymizeCutoff, onBatch),
    feedback_events: await deleteBelow(s.db, 'feedback_events', 'created_at', anonymizeCutoff, onBatch),
    feedback_replay_tokens: await deleteBelow(s.db, 'feedback_replay_tokens', 'expires_at', now, onBatch),
    email_bodies: await sweepUnreferencedBodies(s.db, yieldToOthers),
  };
}
