import type { Transaction } from 'kysely';
import type { Config } from '../platform/config.js';
import { decodeBody, deleteUnreferenced, deleteUnreferencedBodies, readContent } from '../content/index.js';
import type { Dialect } from '../platform/db/database.js';
import { copiesOf, type DB } from '../platform/db/schema.js';
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
  tags: string | null;
  metadata: string | null;
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
  'tags',
  'metadata',
] as const;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A character that, before an address, makes it part of a longer one (`bob.jane@x.bj`). Only the
 * usual local-part characters: `email=jane@x.bj` in a query string is an occurrence.
 */
const LOCAL_CHAR = '[A-Za-z0-9._%+-]';

/**
 * Replaces every occurrence of an address of `addresses` in free text by its keyed hash, in any
 * letter case (SMTP replies, reports and providers quote the recipient as they like), and only
 * the whole address: `bob.jane@x.bj` is not an occurrence of `jane@x.bj`.
 */
export function hashAddressesIn(config: Config, text: string | null, addresses: string[]): string | null {
  if (text === null) return null;
  return addresses.reduce(
    (t, a) =>
      t.replace(
        new RegExp(`(?<!${LOCAL_CHAR})${escapeRegExp(a)}(?![A-Za-z0-9-]|\\.[A-Za-z0-9])`, 'gi'),
        anonymizeAddress(config, a),
      ),
    text,
  );
}

const hashIn = hashAddressesIn;

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
const addressesOf = (m: ScrubRow): string[] => [m.recipient_email, ...copiesOf(m)].filter((a) => !isAnonymized(a));

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
    const named = m.reply_to && !isAnonymized(m.reply_to) ? [...addresses, m.reply_to] : addresses;
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
        // The caller's own fields may carry the addresses too (`{"contact": "jane@…"}`).
        tags: hashIn(config, m.tags, named),
        metadata: hashIn(config, m.metadata, named),
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
  }
  // Events (bounces and relay replies quote the address) and the webhook payloads made of them.
  await hashInRelated(
    trx,
    config,
    rows.map((m) => ({
      id: m.id,
      addresses: m.reply_to && !isAnonymized(m.reply_to) ? [...addressesOf(m), m.reply_to] : addressesOf(m),
    })),
  );
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
  await dropRawsNaming(
    trx,
    raws.map((r) => r.raw_sha256!),
    rows.flatMap(addressesOf),
    now,
  );
}

/** Of the raw MIME contents `shas`, those naming one of `addresses` (any case) are dropped from every message. */
export async function dropRawsNaming(trx: Transaction<DB>, shas: string[], addresses: string[], now: number) {
  const lowered = addresses.map((a) => a.toLowerCase());
  if (lowered.length === 0) return;
  const naming: string[] = [];
  for (const sha of new Set(shas)) {
    const bytes = await readContent(trx, sha);
    const lower = bytes?.toString('latin1').toLowerCase();
    if (lower && lowered.some((a) => lower.includes(a))) naming.push(sha);
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
    await dropBodiesNaming(
      trx,
      ids,
      rows.map((r) => r.recipient_email).filter((a) => !isAnonymized(a)),
      now,
    );
  }
  await deleteUnreferencedBodies(trx, ids);
}

/**
 * Of the bodies `ids`, those whose HTML or text names one of `addresses` (any case) are dropped
 * from every message that shares them; the caller deletes them (deleteUnreferencedBodies).
 */
export async function dropBodiesNaming(trx: Transaction<DB>, ids: number[], addresses: string[], now: number) {
  const lowered = addresses.map((a) => a.toLowerCase());
  if (ids.length === 0 || lowered.length === 0) return;
  const shared = await trx
    .selectFrom('email_bodies')
    .select(['id', 'encoding', 'data'])
    .where('id', 'in', ids)
    .execute();
  const naming = shared
    .filter((b) => {
      const { html, text } = decodeBody(b.encoding, b.data);
      const lower = `${html ?? ''}\n${text ?? ''}`.toLowerCase();
      return lowered.some((a) => lower.includes(a));
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

/** Ids per query: well under both databases' limits on parameters. */
const CHUNK = 500;

/**
 * Replaces the addresses in what was recorded about the messages: their events' data (bounces,
 * relay replies, feedback) and the payloads of the webhook deliveries made of those events,
 * pending or delivered (each carries the message's `to`). Deliveries are found by their events
 * through the (endpoint, event) index: webhook_deliveries has none by message.
 */
export async function hashInRelated(
  trx: Transaction<DB>,
  config: Config,
  messages: Array<{ id: string; addresses: string[] }>,
): Promise<void> {
  const byMessage = new Map(messages.filter((m) => m.addresses.length > 0).map((m) => [m.id, m.addresses]));
  const ids = [...byMessage.keys()];
  const endpoints = (await trx.selectFrom('webhook_endpoints').select('id').execute()).map((e) => e.id);
  for (let i = 0; i < ids.length; i += CHUNK) {
    const events = await trx
      .selectFrom('email_events')
      .select(['id', 'message_id', 'data'])
      .where('message_id', 'in', ids.slice(i, i + CHUNK))
      .execute();
    const addressesOfEvent = new Map<number, string[]>();
    for (const e of events) {
      const addresses = byMessage.get(e.message_id)!;
      addressesOfEvent.set(Number(e.id), addresses);
      const data = hashAddressesIn(config, e.data, addresses);
      if (data !== e.data) await trx.updateTable('email_events').set({ data }).where('id', '=', e.id).execute();
    }
    const eventIds = [...addressesOfEvent.keys()];
    if (endpoints.length === 0) continue;
    for (let j = 0; j < eventIds.length; j += CHUNK) {
      const deliveries = await trx
        .selectFrom('webhook_deliveries')
        .select(['id', 'event_id', 'payload'])
        .where('endpoint_id', 'in', endpoints)
        .where('event_id', 'in', eventIds.slice(j, j + CHUNK))
        .execute();
      for (const d of deliveries) {
        const payload = hashAddressesIn(config, d.payload, addressesOfEvent.get(Number(d.event_id))!)!;
        if (payload !== d.payload)
          await trx.updateTable('webhook_deliveries').set({ payload }).where('id', '=', d.id).execute();
      }
    }
  }
}
