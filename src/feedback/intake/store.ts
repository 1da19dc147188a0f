/**
 * Reports received by mail are stored raw, durably, before anything reads them: the listener
 * answers 250 (and the IMAP poller moves the mail away) only after this insert committed. A
 * worker classifies them later (processor.ts); a crash in between leaves them `pending`.
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB } from '../../platform/db/schema.js';
import { newId } from '../../platform/ids.js';

export interface IncomingReport {
  /** smtp (the listener) or imap. */
  source: 'smtp' | 'imap';
  /** MAIL FROM ('' for the null sender <>), when known. */
  envelopeFrom: string | null;
  /** RCPT TO addresses (the listener), or the mailbox it was read from. */
  envelopeTo: string[];
  raw: Buffer;
  receivedAt: number;
}

/** The same bytes are the same report (a relay that retries after a lost 250, a mailbox read twice). */
export const reportDedupeKey = (raw: Buffer): string => `sha256:${createHash('sha256').update(raw).digest('hex')}`;

/** Stores one report as pending; a report already stored is not stored again. */
export async function storeReport(db: Kysely<DB>, r: IncomingReport): Promise<{ id: string; duplicate: boolean }> {
  const id = newId();
  const dedupe = reportDedupeKey(r.raw);
  const inserted = await db
    .insertInto('feedback_reports')
    .values({
      id,
      received_at: r.receivedAt,
      source: r.source,
      envelope_from: r.envelopeFrom,
      envelope_to: JSON.stringify(r.envelopeTo),
      size: r.raw.length,
      raw: r.raw,
      dedupe_key: dedupe,
      state: 'pending',
      lease_owner: null,
      lease_expires_at: null,
      classified_at: null,
      kind: null,
      category: null,
      recipient: null,
      status_code: null,
      diagnostic: null,
      reason: null,
      classification: null,
      message_id: null,
      match_method: null,
      suppressed: null,
      error: null,
    })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return { id, duplicate: false };
  const existing = await db
    .selectFrom('feedback_reports')
    .select('id')
    .where('dedupe_key', '=', dedupe)
    .executeTakeFirstOrThrow();
  return { id: existing.id, duplicate: true };
}
