import { type Kysely, sql } from 'kysely';
import { attachmentsWithData, withBodies } from '../content/index.js';
import type { DB, MessageRow, MessageStatus } from '../platform/db/schema.js';
import { recipientsView } from '../delivery/index.js';
import { AppError } from '../platform/errors.js';
import { iso } from '../platform/time.js';
import { createdBefore, createdSince, ftsMatch, type SearchContext, searchCondition } from './search.js';
import type { SearchTerms } from './search-query.js';

export interface MessageFilter {
  to?: string;
  /** The keyed hash of `to` (platform/crypto/anon-key.ts): anonymized messages match it instead. */
  toHashed?: string;
  status?: MessageStatus;
  template_key?: string;
  category?: string;
  since?: number;
  until?: number;
  /** A parsed `q` (search-query.ts), with what its condition needs. */
  search?: { terms: SearchTerms; context: SearchContext };
}

/**
 * Counting stops here: a search matching most of a large archive would otherwise count millions
 * of rows for one number. Above it, `total` is this and `total_capped` is true.
 */
export const TOTAL_CAP = 10_000;

/**
 * Cursors are opaque to callers; inside, the last id seen (ids are time-ordered UUIDv7), or for a
 * search read from SQLite's message_search, `r` and the last rowid (that list is in rowid order).
 */
const encodeCursor = (last: string) => Buffer.from(last).toString('base64url');
function decodeCursor(c: string, kind: 'id' | 'rowid'): string {
  const last = Buffer.from(c, 'base64url').toString();
  const ok = kind === 'id' ? /^[0-9a-f-]{36}$/.test(last) : /^r\d{1,18}$/.test(last);
  if (!ok) throw new AppError('invalid_request', 'Invalid cursor');
  return kind === 'id' ? last : last.slice(1);
}

// biome-ignore lint/suspicious/noExplicitAny: any Kysely query builder with a where() of its own signature
function applyFilter<Q extends { where: (...args: any[]) => Q }>(q: Q, f: MessageFilter, withoutMatch = false): Q {
  if (f.to) {
    // Whatever the case (email_messages_recipient_lower serves it).
    const to = f.to.trim().toLowerCase();
    q = q.where(sql<string>`lower(recipient_email)`, 'in', f.toHashed ? [to, f.toHashed] : [to]);
  }
  if (f.status) q = q.where('status', '=', f.status);
  if (f.template_key) q = q.where('template_key', '=', f.template_key);
  if (f.category) q = q.where('category', '=', f.category);
  type Eb = Parameters<typeof searchCondition>[0];
  if (f.since !== undefined) q = q.where((eb: Eb) => eb.and(createdSince(eb, f.since!)));
  if (f.until !== undefined) q = q.where((eb: Eb) => eb.and(createdBefore(eb, f.until!)));
  if (f.search) {
    const { terms, context } = f.search;
    q = q.where((eb: Eb) => searchCondition(eb, terms, context, withoutMatch));
  }
  return q;
}

export const messageSummary = (
  m: Pick<
    MessageRow,
    | 'id'
    | 'recipient_email'
    | 'subject'
    | 'status'
    | 'template_key'
    | 'category'
    | 'created_at'
    | 'sent_at'
    | 'delivered_at'
  >,
) => ({
  id: m.id,
  to: m.recipient_email,
  subject: m.subject,
  status: m.status,
  template_key: m.template_key,
  category: m.category,
  created_at: iso(m.created_at)!,
  sent_at: iso(m.sent_at),
  delivered_at: iso(m.delivered_at),
});

const SUMMARY_COLUMNS = [
  'id',
  'recipient_email',
  'subject',
  'status',
  'template_key',
  'category',
  'created_at',
  'sent_at',
  'delivered_at',
] as const;

export async function listMessages(db: Kysely<DB>, filter: MessageFilter, limit: number, cursor?: string) {
  const match = filter.search ? ftsMatch(filter.search.terms, filter.search.context) : null;
  if (match !== null) return listFromSearchIndex(db, match, filter, limit, cursor);
  let q = applyFilter(
    db
      .selectFrom('email_messages')
      .select([
        'id',
        'recipient_email',
        'subject',
        'status',
        'template_key',
        'category',
        'created_at',
        'sent_at',
        'delivered_at',
      ]),
    filter,
  );
  if (cursor) q = q.where('id', '<', decodeCursor(cursor, 'id'));
  const rows = await q
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const matching = applyFilter(db.selectFrom('email_messages').select('id'), filter).limit(TOTAL_CAP + 1);
  const totalRow = await db
    .selectFrom(matching.as('m'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const page = rows.slice(0, limit);
  const total = Number(totalRow.n);
  return {
    items: page.map(messageSummary),
    total: Math.min(total, TOTAL_CAP),
    total_capped: total > TOTAL_CAP,
    next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null,
  };
}

/** message_search joined to the messages (migration 0018): SQLite only. */
type SearchDB = Omit<DB, 'email_messages'> & {
  email_messages: DB['email_messages'] & { rowid: number };
  message_search: { rowid: number; message_search: string };
};

/**
 * SQLite, a search with fragments: message_search is read first, newest (highest rowid) first,
 * each match joined to its message and tested against the rest of the filter, until the page is
 * full; the count stops at TOTAL_CAP. A fragment found in most of the archive costs as little as a
 * rare one: nothing lists every match to sort them.
 */
async function listFromSearchIndex(
  db: Kysely<DB>,
  match: string,
  filter: MessageFilter,
  limit: number,
  cursor?: string,
) {
  const sdb = db as unknown as Kysely<SearchDB>;
  const base = () =>
    applyFilter(
      sdb
        .selectFrom('message_search')
        .innerJoin('email_messages', 'email_messages.rowid', 'message_search.rowid')
        .where(sql<string>`message_search`, 'match', match),
      filter,
      true,
    );
  let q = base().select([...SUMMARY_COLUMNS.map((c) => `email_messages.${c}` as const), 'message_search.rowid']);
  if (cursor) q = q.where('message_search.rowid', '<', Number(decodeCursor(cursor, 'rowid')));
  const rows = await q
    .orderBy('message_search.rowid', 'desc')
    .limit(limit + 1)
    .execute();
  const totalRow = await sdb
    .selectFrom(
      base()
        .select('message_search.rowid')
        .limit(TOTAL_CAP + 1)
        .as('m'),
    )
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const page = rows.slice(0, limit);
  const total = Number(totalRow.n);
  return {
    items: page.map(messageSummary),
    total: Math.min(total, TOTAL_CAP),
    total_capped: total > TOTAL_CAP,
    next_cursor: rows.length > limit ? encodeCursor(`r${page[page.length - 1]!.rowid}`) : null,
  };
}

/** One message's row with its bodies (wherever they are stored); 404 message_not_found. */
export async function messageWithBodies(db: Kysely<DB>, id: string): Promise<MessageRow> {
  const row = await db.selectFrom('email_messages').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new AppError('message_not_found', `No message ${id}`);
  const [m] = (await withBodies(db, [row])) as [MessageRow];
  return m;
}

export async function getMessage(db: Kysely<DB>, id: string) {
  const m = await messageWithBodies(db, id);
  const [events, attachments] = await Promise.all([
    db.selectFrom('email_events').selectAll().where('message_id', '=', id).orderBy('id').execute(),
    db
      .selectFrom('email_attachments')
      .select(['id', 'filename', 'content_type', 'size_bytes', 'sha256', 'created_at'])
      .where('message_id', '=', id)
      .orderBy('id')
      .execute(),
  ]);
  return {
    ...messageSummary(m),
    template_version: m.template_version,
    locale: m.locale,
    class: m.class,
    source_endpoint: m.source_endpoint,
    source: m.source,
    from_email: m.from_email,
    from_name: m.from_name,
    tags: m.tags ? (JSON.parse(m.tags) as string[]) : [],
    metadata: m.metadata ? (JSON.parse(m.metadata) as Record<string, unknown>) : null,
    cc: m.cc ? (JSON.parse(m.cc) as string[]) : [],
    bcc: m.bcc ? (JSON.parse(m.bcc) as string[]) : [],
    reply_to: m.reply_to,
    html_content: m.html_content,
    text_content: m.text_content,
    attachments_count: m.attachments_count,
    attempts: m.attempts,
    max_attempts: m.max_attempts,
    next_attempt_at: iso(m.next_attempt_at),
    smtp_message_id: m.smtp_message_id,
    provider_message_id: m.provider_message_id,
    smtp_response: m.smtp_response,
    bounce_type: m.bounce_type,
    bounce_subtype: m.bounce_subtype,
    bounce_category: m.bounce_category,
    error_message: m.error_message,
    is_test: m.is_test === 1,
    resent_from_id: m.resent_from_id,
    anonymized_at: iso(m.anonymized_at),
    updated_at: iso(m.updated_at),
    // Each envelope recipient (to, cc, bcc) with where it stands: accepted, deferred, refused, …
    recipients: recipientsView(m),
    attachments: attachments.map((a) => ({
      id: a.id,
      filename: a.filename,
      content_type: a.content_type,
      size_bytes: a.size_bytes,
      sha256: a.sha256,
    })),
    events: events.map((e) => ({
      id: Number(e.id),
      type: e.type,
      at: iso(e.created_at),
      data: e.data ? (JSON.parse(e.data) as unknown) : null,
    })),
  };
}

export async function getAttachment(db: Kysely<DB>, messageId: string, attachmentId: string) {
  const [a] = await attachmentsWithData(db, messageId, attachmentId);
  if (!a) throw new AppError('attachment_not_found', `No attachment ${attachmentId} on message ${messageId}`);
  if (!a.data)
    throw new AppError('attachment_not_found', `Attachment ${attachmentId} was removed by the retention policy`);
  return { ...a, data: a.data };
}
