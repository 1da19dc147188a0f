import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely';
import type { FastifyBaseLogger } from 'fastify';
import { type DB, SUSPECT_ATTEMPTS, spoolRowFailing } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { likeContaining } from '../../platform/db/like.js';
import { iso } from '../../platform/time.js';
import { submissionArchived } from './metrics.js';
import type { SpooledOptions } from './spool.js';

/**
 * What an operator does with the submission spool (docs/submission.md#the-spool): see what waits
 * and why, download a spooled message as received, have a failing one tried at once (after a
 * fix), or drop one that can never be stored, as `postsuper -d` does in Postfix. Dropping is the
 * one way a message accepted with a 250 is not stored: only a failing row not being tried at
 * that moment, logged with who dropped it and counted.
 */

export interface SpoolEntry {
  id: number;
  received_at: string;
  envelope_from: string;
  from_email: string;
  recipients: string[];
  message_ids: string[];
  smtp_message_id: string;
  size: number;
  attempts: number;
  state: 'waiting' | 'storing' | 'failing';
  next_try_at: string | null;
  last_error: string | null;
}

const notFound = (id: number) =>
  new AppError('spool_entry_not_found', `No spooled message ${id}: it was stored, dropped, or never spooled`, { id });

interface SpoolRowView {
  id: number;
  received_at: number;
  envelope_from: string;
  from_email: string;
  recipients: string;
  message_ids: string;
  smtp_message_id: string;
  attempts: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  size: number;
}

/** Could not be stored: it says why, or it was taken SUSPECT_ATTEMPTS times and is still here. */
const isFailing = (r: Pick<SpoolRowView, 'last_error' | 'attempts'>) =>
  r.last_error !== null || Number(r.attempts) >= SUSPECT_ATTEMPTS;

function entryOf(r: SpoolRowView, now: number): SpoolEntry {
  const leased = r.lease_owner !== null && r.lease_expires_at !== null && Number(r.lease_expires_at) > now;
  return {
    id: Number(r.id),
    received_at: iso(Number(r.received_at))!,
    envelope_from: r.envelope_from,
    from_email: r.from_email,
    recipients: JSON.parse(r.recipients) as string[],
    message_ids: JSON.parse(r.message_ids) as string[],
    smtp_message_id: r.smtp_message_id,
    size: Number(r.size),
    attempts: Number(r.attempts),
    state: leased ? 'storing' : isFailing(r) ? 'failing' : 'waiting',
    next_try_at: r.lease_owner === null && r.lease_expires_at !== null ? iso(Number(r.lease_expires_at)) : null,
    last_error:
      r.last_error ??
      (isFailing(r)
        ? `Taken ${Number(r.attempts)} times and not stored: its ingester stopped each time (a message that crashes it?)`
        : null),
  };
}

const columns = [
  'id',
  'received_at',
  'envelope_from',
  'from_email',
  'recipients',
  'message_ids',
  'smtp_message_id',
  'attempts',
  'lease_owner',
  'lease_expires_at',
  'last_error',
] as const;

/** No ingester holds the row: none took it, or the one that did let its lease run out (it died). */
const notHeld =
  (now: number) =>
  (eb: ExpressionBuilder<DB, 'submission_spool'>): Expression<SqlBool> =>
    eb.or([eb('lease_owner', 'is', null), eb('lease_expires_at', '<', now)]);

/** Spooled messages as entries: what the row says, and its size, without its bytes. */
const entries = (db: Kysely<DB>) =>
  db.selectFrom('submission_spool').select([...columns, (eb) => eb.fn<number>('length', ['raw']).as('size')]);

/** The oldest spooled messages first (or only those that failed), without their bytes. */
export async function listSpool(
  db: Kysely<DB>,
  opts: { failingOnly: boolean; limit: number },
): Promise<{ items: SpoolEntry[] }> {
  let q = entries(db).orderBy('id').limit(opts.limit);
  if (opts.failingOnly) q = q.where(spoolRowFailing);
  const now = Date.now();
  return { items: (await q.execute()).map((r) => entryOf(r, now)) };
}

export async function getSpooled(db: Kysely<DB>, id: number): Promise<SpoolEntry> {
  const r = await entries(db).where('id', '=', id).executeTakeFirst();
  if (!r) throw notFound(id);
  return entryOf(r, Date.now());
}

/** The message as the client sent it (its bytes, X-Postier-* and Bcc fields included). */
export async function spooledRaw(db: Kysely<DB>, id: number): Promise<Buffer> {
  const r = await db.selectFrom('submission_spool').select('raw').where('id', '=', id).executeTakeFirst();
  if (!r) throw notFound(id);
  return Buffer.from(r.raw);
}

/** A failing message is tried at the next pass of the ingester instead of at its backoff's end. */
export async function retrySpooled(db: Kysely<DB>, id: number): Promise<SpoolEntry> {
  const r = await db
    .updateTable('submission_spool')
    .set({ lease_owner: null, lease_expires_at: null })
    .where('id', '=', id)
    .where(notHeld(Date.now()))
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) {
    await getSpooled(db, id); // 404 when gone
    throw new AppError('invalid_state', 'The spooled message is being stored right now', { id });
  }
  return getSpooled(db, id);
}

/**
 * Drops a failing spooled message: its messages are never stored or sent. A message that has not
 * failed (it is stored in moments) or that an ingester is trying now is refused (409).
 */
export async function dropSpooled(
  db: Kysely<DB>,
  log: Pick<FastifyBaseLogger, 'warn'>,
  id: number,
  by: string,
): Promise<{ id: number; message_ids: string[] }> {
  const entry = await getSpooled(db, id);
  const dropped = await db.transaction().execute(async (trx) => {
    const row = await trx
      .deleteFrom('submission_spool')
      .where('id', '=', id)
      .where(spoolRowFailing)
      .where(notHeld(Date.now()))
      .returning('options')
      .executeTakeFirst();
    const key = row?.options ? (JSON.parse(row.options) as SpooledOptions).idempotency : undefined;
    // The client's retry with the same key must be stored, not answered with the 250 of a
    // message that will never exist. Only the key's answer that named this message: once
    // expired, the key may since have been taken by another message.
    if (key)
      await trx
        .deleteFrom('idempotency_keys')
        .where('scope', '=', key.scope)
        .where('key', '=', key.key)
        .where('response_body', 'like', likeContaining(entry.message_ids[0]!))
        .execute();
    return row !== undefined;
  });
  if (!dropped) {
    await getSpooled(db, id); // 404 when it was stored meanwhile
    throw new AppError(
      'invalid_state',
      entry.state === 'waiting'
        ? 'Only a spooled message that failed to be stored can be dropped; this one is stored in moments'
        : 'The spooled message is being stored right now; try again once it has failed',
      { id, state: entry.state },
    );
  }
  submissionArchived.inc({ result: 'dropped' }, entry.message_ids.length);
  log.warn(
    {
      spool_id: id,
      by,
      envelope_from: entry.envelope_from,
      recipients: entry.recipients.length,
      message_ids: entry.message_ids,
      smtp_message_id: entry.smtp_message_id,
      last_error: entry.last_error,
    },
    'submission spool: a spooled message was dropped by an operator; its messages will never be stored or sent',
  );
  return { id, message_ids: entry.message_ids };
}
