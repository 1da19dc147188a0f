import { type Transaction, sql } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { eraseFromSpool, normalizeAddress } from '../accept/index.js';

import type { RetentionDeps } from './deps.js';
import { anonymizeAddress } from '../platform/crypto/anon-key.js';
import {
  SCRUB_COLUMNS,
  dropBodiesNaming,
  dropRawsNaming,
  hashAddressesIn,
  hashInRelated,
  scrubMessages,
} from './scrub.js';
import { deleteUnreferenced, deleteUnreferencedBodies } from '../content/index.js';
import { likeContaining } from '../platform/db/like.js';
import { holdWebhookTail } from '../webhooks/index.js';

export interface EraseResult {
  /** Messages addressed to them: addresses hashed, bodies dropped. */
  messages: number;
  /** Attachments whose bytes were dropped. */
  attachments: number;
  /** Messages to someone else where they were in cc/bcc: only their address was replaced. */
  copies: number;
  /** Messages not yet sent that were cancelled, since their content is gone (with those accepted over SMTP and not yet stored, which never will be). */
  cancelled: number;
  /** Feedback reports naming the address (its bounces, complaints, auto-replies), deleted with their raw bytes. */
  feedback_reports: number;
}

/**
 * Right to erasure, for one address, at once and in one transaction. Addresses are compared
 * case-insensitively: the person is the mailbox, whatever case callers used.
 */
export async function eraseRecipient(s: RetentionDeps, address: string, now: number): Promise<EraseResult> {
  const lower = normalizeAddress(address.trim()).toLowerCase();
  const hashed = anonymizeAddress(s.config, lower);
  return s.db.transaction().execute(async (trx) => {
    // No webhook payload is being made of what this changes meanwhile (see holdWebhookTail).
    await holdWebhookTail(trx, s.dialect);
    // Accepted over SMTP and not stored yet: never stored now (first: see eraseFromSpool).
    const spooled = await eraseFromSpool(trx, lower);
    const own = await trx
      .selectFrom('email_messages')
      .select([...SCRUB_COLUMNS, 'status'])
      // Already anonymized messages match by hash: a second erasure still clears their subject.
      // Hashes are lowercase: one lookup in email_messages_recipient_lower finds both.
      .where(sql<string>`lower(recipient_email)`, 'in', [lower, hashed])
      .execute();

    const unsent = own
      .filter((m) => m.status === 'scheduled' || m.status === 'queued' || m.status === 'sending')
      .map((m) => m.id);
    if (unsent.length > 0) {
      await trx
        .updateTable('email_messages')
        .set({
          status: 'cancelled',
          next_attempt_at: null,
          lease_owner: null,
          lease_expires_at: null,
          error_message: 'erased on request',
          updated_at: now,
        })
        .where('id', 'in', unsent)
        .where('status', 'in', ['scheduled', 'queued', 'sending'])
        .execute();
      await s.events.record(
        trx,
        unsent.map((id) => ({ messageId: id, type: 'cancelled', at: now, data: { reason: 'erased' } })),
      );
    }
    const scrubbed = await scrubMessages(trx, s.config, s.dialect, s.events, own, now, 'erased');

    const copiesChanged = await eraseFromOthers(s, trx, lower, hashed, new Set(own.map((m) => m.id)), now);
    // Reports are raw mail: nothing in them can be hashed, so those about the person go whole.
    const ownIds = own.map((m) => m.id);
    const reports = await trx
      .deleteFrom('feedback_reports')
      .where((eb) =>
        eb.or([
          eb('recipient', '=', lower),
          eb(sql<string>`lower(envelope_from)`, '=', lower),
          ...(ownIds.length ? [eb('message_id', 'in', ownIds)] : []),
        ]),
      )
      .executeTakeFirst();
    await trx.deleteFrom('feedback_events').where('recipient', '=', lower).execute();
    const unread = await deleteReportsNaming(trx, lower);
    await hashInIdempotentAnswers(s, trx, lower);
    await deleteCapturedNaming(trx, lower);
    return {
      feedback_reports: Number(reports.numDeletedRows) + unread,
      messages: scrubbed.messages,
      attachments: scrubbed.attachments,
      copies: copiesChanged,
      cancelled: unsent.length + spooled,
    };
  });
}

/** Columns of a message to someone else that may name the erased address. */
const NAMING_COLUMNS = [
  'cc',
  'bcc',
  'reply_to',
  'subject',
  'tags',
  'metadata',
  'recipient_status',
  'smtp_response',
  'error_message',
] as const;

/**
 * Messages to someone else that name the address: in cc/bcc (an envelope recipient), as their
 * reply-to, in their subject, tags or metadata, or in a relay's reply. The address is replaced by
 * its hash there, in their events and webhook payloads; their body or submitted MIME, when it
 * names the address, is dropped (from every message that shares it), as for the person's own
 * messages. Narrowed with LIKE (a scan, but erasure is rare), then decided exactly. Returns how
 * many messages changed.
 */
async function eraseFromOthers(
  s: RetentionDeps,
  trx: Transaction<DB>,
  lower: string,
  hashed: string,
  own: Set<string>,
  now: number,
): Promise<number> {
  const found = await trx
    .selectFrom('email_messages')
    .select(['id', 'body_id', 'raw_sha256', ...NAMING_COLUMNS])
    .where((eb) =>
      eb.or(NAMING_COLUMNS.map((c) => eb(sql<string>`lower(${sql.ref(c)})`, 'like', likeContaining(lower)))),
    )
    .execute();
  const others = found.filter((m) => !own.has(m.id));
  const one = [lower];
  const list = (json: string | null) =>
    json === null
      ? null
      : JSON.stringify((JSON.parse(json) as string[]).map((a) => (a.toLowerCase() === lower ? hashed : a)));
  let changed = 0;
  for (const m of others) {
    const next = {
      cc: list(m.cc),
      bcc: list(m.bcc),
      reply_to: m.reply_to?.toLowerCase() === lower ? hashed : m.reply_to,
      subject: hashAddressesIn(s.config, m.subject, one)!,
      tags: hashAddressesIn(s.config, m.tags, one),
      metadata: hashAddressesIn(s.config, m.metadata, one),
      recipient_status: hashStatusOf(s, m.recipient_status, lower, hashed),
      smtp_response: hashAddressesIn(s.config, m.smtp_response, one),
      error_message: hashAddressesIn(s.config, m.error_message, one),
    };
    if (NAMING_COLUMNS.every((c) => next[c] === m[c])) continue;
    await trx
      .updateTable('email_messages')
      .set({ ...next, updated_at: now })
      .where('id', '=', m.id)
      .execute();
    changed++;
  }
  await hashInRelated(
    trx,
    s.config,
    others.map((m) => ({ id: m.id, addresses: one })),
  );
  const bodies = [...new Set(others.filter((m) => m.body_id != null).map((m) => Number(m.body_id)))];
  await dropBodiesNaming(trx, bodies, one, now);
  await deleteUnreferencedBodies(trx, bodies);
  const raws = [...new Set(others.filter((m) => m.raw_sha256 != null).map((m) => m.raw_sha256!))];
  await dropRawsNaming(trx, raws, one, now);
  await deleteUnreferenced(trx, s.dialect, raws);
  return changed;
}

/** The per-recipient map of a message to others: the erased recipient's key and every reply quoting it. */
function hashStatusOf(s: RetentionDeps, json: string | null, lower: string, hashed: string): string | null {
  if (json === null) return null;
  const map = JSON.parse(json) as Record<string, { response?: string | null }>;
  const next = Object.entries(map).map(([address, st]) => [
    address.toLowerCase() === lower ? hashed : address,
    st.response == null ? st : { ...st, response: hashAddressesIn(s.config, st.response, [lower]) },
  ]);
  const out = JSON.stringify(Object.fromEntries(next));
  return out === JSON.stringify(map) ? json : out;
}

const REPORT_SCAN = 200;

/**
 * Walks a table by id, REPORT_SCAN rows at a time (`page`: the rows after an id, with the text
 * to look in), and deletes (`drop`) those whose text names the address. Returns how many.
 */
async function deleteNaming(
  lower: string,
  page: (after: string) => Promise<Array<{ id: string; text: string }>>,
  drop: (ids: string[]) => Promise<number>,
): Promise<number> {
  let deleted = 0;
  let after = '';
  for (;;) {
    const rows = await page(after);
    const naming = rows.filter((r) => r.text.toLowerCase().includes(lower)).map((r) => r.id);
    if (naming.length > 0) deleted += await drop(naming);
    if (rows.length < REPORT_SCAN) return deleted;
    after = rows[rows.length - 1]!.id;
  }
}

/**
 * Reports not classified yet (pending, or failed) or in which no recipient was found: their raw
 * bytes are read, and those naming the address are deleted (a pending one would otherwise be
 * classified after the erasure and name the person again). Returns how many.
 */
const deleteReportsNaming = (trx: Transaction<DB>, lower: string): Promise<number> =>
  deleteNaming(
    lower,
    async (after) =>
      (
        await trx
          .selectFrom('feedback_reports')
          .select(['id', 'raw'])
          .where('recipient', 'is', null)
          .where('id', '>', after)
          .orderBy('id')
          .limit(REPORT_SCAN)
          .execute()
      ).map((r) => ({ id: r.id, text: Buffer.from(r.raw).toString('latin1') })),
    async (ids) =>
      Number((await trx.deleteFrom('feedback_reports').where('id', 'in', ids).executeTakeFirst()).numDeletedRows),
  );

/**
 * Stored answers of idempotent requests (kept 24 hours) list each message's `to`: the address
 * becomes its hash there, so a retry still gets the same answer, without the address.
 */
async function hashInIdempotentAnswers(s: RetentionDeps, trx: Transaction<DB>, lower: string) {
  const rows = await trx
    .selectFrom('idempotency_keys')
    .select(['scope', 'key', 'response_body'])
    .where(sql<string>`lower(response_body)`, 'like', likeContaining(lower))
    .execute();
  for (const r of rows) {
    const body = hashAddressesIn(s.config, r.response_body, [lower])!;
    if (body === r.response_body) continue;
    await trx
      .updateTable('idempotency_keys')
      .set({ response_body: body })
      .where('scope', '=', r.scope)
      .where('key', '=', r.key)
      .execute();
  }
}

/** The capture inbox (no relay: development): every mail naming the address, in its envelope or its bytes, is deleted. */
const deleteCapturedNaming = (trx: Transaction<DB>, lower: string): Promise<number> =>
  deleteNaming(
    lower,
    async (after) =>
      (
        await trx
          .selectFrom('captured_mail')
          .select(['id', 'rcpt_to', 'raw'])
          .where('id', '>', after)
          .orderBy('id')
          .limit(REPORT_SCAN)
          .execute()
      ).map((r) => ({ id: r.id, text: `${r.rcpt_to}\n${Buffer.from(r.raw).toString('latin1')}` })),
    async (ids) =>
      Number((await trx.deleteFrom('captured_mail').where('id', 'in', ids).executeTakeFirst()).numDeletedRows),
  );
