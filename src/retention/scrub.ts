import type { Transaction } from 'kysely';
import type { Config } from '../platform/config.js';
import { decodeBody, deleteUnreferenced, deleteUnreferencedBodies, readContent } from '../content/index.js';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import type { EventLog } from '../events/index.js';
import { anonymizeAddress, isAnonymized } from '../platform/crypto/anon-key.js';

export interface ScrubRow {
  id: string;
  recipient_email: string;
  cc: string | null;
  bcc: string | null;
  reply_to: string | null;
  smtp_response: string | null;
  error_message: string | null;
  recipient_status: string | null;
  body_id: number | null;
}

export const SCRUB_COLUMNS = [
  'id',
  'recipient_email',
  'cc',
  'bcc',
  'reply_to',
  'smtp_response',
  'error_message',
  'recipient_status',
  'body_id',
] as const;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Replaces every address of `addresses` in free text (SMTP replies quote the recipient). */
function hashIn(config: Config, text: string | null, addresses: string[]): string | null {
  if (text === null) return null;
  return addresses.reduce((t, a) => t.replace(new RegExp(escapeRegExp(a), 'gi'), anonymizeAddress(config, a)), text);
}

const hashList = (config: Config, json: string | null): string | null =>
  json === null
    ? null
    : JSON.stringify((JSON.parse(json) as string[]).map((a) => (isAnonymized(a) ? a : anonymizeAddress(config, a))));

/** The per-recipient map keyed by address, with replies that may quote it: both hashed. */
function hashRecipientStatus(config: Config, json: string | null, addresses: string[]): string | null {
  if (json === null) return null;
  const map = JSON.parse(json) as Record<string, { response?: string | null }>;
  const hashed = Object.entries(map).map(([address, s]) => [
    isAnonymized(address) ? address : anonymizeAddress(config, address),
    { ...s, response: hashIn(config, s.response ?? null, addresses) },
  ]);
  return JSON.stringify(Object.fromEntries(hashed));
}

/** The addresses a message was sent to (recipient, cc, bcc) that are not hashed yet. */
const addressesOf = (m: ScrubRow): string[] =>
  [
    m.recipient_email,
    ...(m.cc ? (JSON.parse(m.cc) as string[]) : []),
    ...(m.bcc ? (JSON.parse(m.bcc) as string[]) : []),
  ].filter((a) => !isAnonymized(a));

/**
 * Anonymizes messages in place: every address becomes its keyed hash (still findable by the
 * exact address), bodies, sealed content, attachment bytes and a submitted message's raw MIME are dropped; metadata stays
 * (template, status, times, sizes, hashes) so the audit keeps its shape. An attachment's content
 * goes with the last message that referenced it; other messages with the same content keep it.
 * Returns what it removed (`blobs`: contents deleted).
 */
export async function scrubMessages(
  trx: Transaction<DB>,
  config: Config,
  dialect: Dialect,
  events: EventLog,
  rows: ScrubRow[],
  now: number,
  event: 'anonymized' | 'erased',
): Promise<{ messages: number; attachments: number; blobs: number }> {
  if (rows.length === 0) return { messages: 0, attachments: 0, blobs: 0 };
  const raws = await trx
    .selectFrom('email_messages')
    .select('raw_sha256')
    .distinct()
    .where(
      'id',
      'in',
      rows.map((r) => r.id),
    )
    .where('raw_sha256', 'is not', null)
    .execute();
  if (event === 'erased') await dropNamingRaws(trx, rows, raws, now);
  for (const m of rows) {
    const addresses = addressesOf(m);
    await trx
      .updateTable('email_messages')
      .set({
        recipient_email: isAnonymized(m.recipient_email)
          ? m.recipient_email
          : anonymizeAddress(config, m.recipient_email),
        cc: hashList(config, m.cc),
        bcc: hashList(config, m.bcc),
        reply_to: m.reply_to && !isAnonymized(m.reply_to) ? anonymizeAddress(config, m.reply_to) : m.reply_to,
        smtp_response: hashIn(config, m.smtp_response, addresses),
        error_message: hashIn(config, m.error_message, addresses),
        recipient_status: hashRecipientStatus(config, m.recipient_status, addresses),
        html_content: null,
        text_content: null,
        body_id: null,
        sealed_content: null,
        // A submitted message's MIME as received holds the same bodies and addresses.
        raw_sha256: null,
        anonymized_at: now,
        updated_at: now,
        // Erasure must also stop a message that has not left yet: its body is gone.
        ...(event === 'erased' ? { subject: '[erased]' } : {}),
      })
      .where('id', '=', m.id)
      .execute();
    // Bounce and delivery events may quote the address (SES notifications do).
    for (const a of addresses) {
      await trx
        .updateTable('email_events')
        .set((eb) => ({ data: eb.fn<string>('replace', ['data', eb.val(a), eb.val(anonymizeAddress(config, a))]) }))
        .where('message_id', '=', m.id)
        .where('data', 'is not', null)
        .execute();
    }
  }
  const ids = rows.map((r) => r.id);
  const held = await trx
    .selectFrom('email_attachments')
    .select('blob_sha256')
    .distinct()
    .where('message_id', 'in', ids)
    .where('blob_sha256', 'is not', null)
    .execute();
  // `data`: bytes of rows written before content_blobs existed (an upgrade's old processes).
  const dropped = await trx
    .updateTable('email_attachments')
    .set({ data: null, blob_sha256: null })
    .where('message_id', 'in', ids)
    .where((eb) => eb.or([eb('data', 'is not', null), eb('blob_sha256', 'is not', null)]))
    .executeTakeFirst();
  const blobs = await deleteUnreferenced(trx, dialect, [
    ...held.map((r) => r.blob_sha256!),
    ...raws.map((r) => r.raw_sha256!),
  ]);
  await dropBodies(trx, rows, event, now);
  await events.record(
    trx,
    ids.map((id) => ({ messageId: id, type: event, at: now })),
  );
  return { messages: rows.length, attachments: Number(dropped.numUpdatedRows), blobs };
}

/**
 * A submitted message's MIME as received is shared by the messages of its envelope (one per
 * recipient), and its To and Cc name them all. Erasing one of them drops that MIME from every
 * message that shares it when it names the erased address (as for a shared body, below); the
 * others keep their subject and parsed bodies, but can no longer be resent, and one not sent yet
 * fails for want of its content. Only an address written as such is found (not one inside an
 * encoded word or an encoded body).
 */
async function dropNamingRaws(
  trx: Transaction<DB>,
  rows: ScrubRow[],
  raws: Array<{ raw_sha256: string | null }>,
  now: number,
) {
  const addresses = rows.flatMap(addressesOf).map((a) => a.toLowerCase());
  if (addresses.length === 0) return;
  const naming: string[] = [];
  for (const { raw_sha256: sha } of raws) {
    const bytes = await readContent(trx, sha!);
    const lower = bytes?.toString('latin1').toLowerCase();
    if (lower && addresses.some((a) => lower.includes(a))) naming.push(sha!);
  }
  if (naming.length > 0) {
    await trx
      .updateTable('email_messages')
      .set({ raw_sha256: null, updated_at: now })
      .where('raw_sha256', 'in', naming)
      .execute();
  }
}

/**
 * The bodies the scrubbed messages referenced (`rows` as they were read, before the update):
 * each goes with the last message that referenced it. A body is one rendering of one request,
 * shared by its recipients, who all received it: another recipient keeps it, unless an erasure
 * finds the erased address in it (a rendering that names the person), in which case it is
 * dropped from every message that shares it. Only the address can be recognised this way, not
 * a name: erase each address the person used.
 */
async function dropBodies(trx: Transaction<DB>, rows: ScrubRow[], event: 'anonymized' | 'erased', now: number) {
  const ids = [...new Set(rows.filter((r) => r.body_id != null).map((r) => Number(r.body_id)))];
  if (ids.length === 0) return;
  if (event === 'erased') {
    const addresses = rows.map((r) => r.recipient_email.toLowerCase()).filter((a) => !isAnonymized(a));
    const shared = await trx
      .selectFrom('email_bodies')
      .select(['id', 'encoding', 'data'])
      .where('id', 'in', ids)
      .execute();
    const naming = shared
      .filter((b) => {
        const { html, text } = decodeBody(b.encoding, b.data);
        const lower = `${html ?? ''}\n${text ?? ''}`.toLowerCase();
        return addresses.some((a) => lower.includes(a));
      })
      .map((b) => Number(b.id));
    if (naming.length > 0) {
      await trx
        .updateTable('email_messages')
        .set({ body_id: null, updated_at: now })
        .where('body_id', 'in', naming)
        .execute();
    }
  }
  await deleteUnreferencedBodies(trx, ids);
}
