import { type Kysely, sql } from 'kysely';
import { attachmentsWithData, withJoinedBody } from '../content/index.js';
import { addressList, type DB, type MessageRow, type MessageStatus } from '../platform/db/schema.js';
import { recipientsView } from '../delivery/index.js';
import { AppError } from '../platform/errors.js';
import { iso } from '../platform/time.js';
import type { Dialect } from '../platform/db/database.js';
import { reusedQuery } from '../platform/db/reused-sql.js';
import {
  createdBefore,
  createdSince,
  fragmentsAllOnRow,
  ftsMatch,
  type SearchContext,
  type Steering,
  searchCondition,
  steered,
} from './search.js';
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
  /** SQLite: its planner is steered (see Steering in search.ts); PostgreSQL: its time is bounded. */
  dialect?: Dialect;
}

/**
 * PostgreSQL: the longest a list's queries may run (its page and its count, half each). A fragment pg_trgm draws no trigram from (`%%%`,
 * `a-b`, and, on a database whose LC_CTYPE is C, letters outside ASCII: `ééé`) reads the whole
 * table: seconds on millions of messages, which the caller is told to narrow (400 invalid_search)
 * rather than wait for. (A category nobody uses did too, before email_messages_category, 0025.)
 */
export const LIST_TIMEOUT_MS = 5000;

/**
 * SQLite: a status with at least this many messages is common: its page is found walking the
 * messages newest first (a few rows read per match), not by sorting every message of that
 * status that email_messages_due lists (1.6 s for `delivered` on 2,000,000 messages).
 */
const COMMON_STATUS = 2000;
/** SQLite: a search's count reads a status's messages themselves below this many (see Plan). */
const COUNTABLE_STATUS = 50_000;

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
function applyFilter<Q extends { where: (...args: any[]) => Q }>(
  q: Q,
  f: MessageFilter,
  withoutMatch = false,
  steering?: Steering,
): Q {
  if (f.to) {
    // Whatever the case (email_messages_recipient_lower serves it).
    const to = f.to.trim().toLowerCase();
    q = q.where(sql<string>`lower(recipient_email)`, 'in', f.toHashed ? [to, f.toHashed] : [to]);
  }
  if (f.status) q = q.where(steered('status', steering?.status), '=', f.status);
  if (f.template_key) q = q.where(steered('template_key', steering?.template), '=', f.template_key);
  if (f.category) q = q.where(steered('category', steering?.category), '=', f.category);
  type Eb = Parameters<typeof searchCondition>[0];
  if (f.since !== undefined) q = q.where((eb: Eb) => eb.and(createdSince(eb, f.since!)));
  if (f.until !== undefined) q = q.where((eb: Eb) => eb.and(createdBefore(eb, f.until!)));
  if (f.search) {
    const { terms, context } = f.search;
    q = q.where((eb: Eb) => searchCondition(eb, terms, context, withoutMatch, steering));
  }
  return q;
}

interface Plan {
  page?: Steering;
  count?: Steering;
  /** SQLite: a whole address, an id, a template, a status, a category or a time range with few messages narrows more than any fragment. */
  narrow: boolean;
  /** SQLite: a whole address, an id, a template, a status, a category or a time range, whatever its count. */
  narrowable: boolean;
  /**
   * SQLite: a status (without a template) with fewer than COUNTABLE_STATUS messages: a search's
   * count reads them rather than every message_search match of a common part (`client
   * status:rate_limited`, 20,000 of 2,000,000: 700 ms, most of it the count).
   */
  countOnMessages?: boolean;
}

/**
 * SQLite: which conditions may choose an index (see Steering). A whole address or an id narrows
 * more than a status, a template or a category. A status with a template is left to the planner
 * (it walks the template's messages newest first); a status alone keeps its index only while it
 * is rare (counted on that index, at most COMMON_STATUS entries read). A rare template, category
 * or status, or a time range with few messages, makes the list narrow (see offTheSearchIndex).
 *
 * A category (email_messages_category, `(category, id)`, migration 0025) is read as a template's
 * index is: its messages newest first, a date range bounding the id inside it. A rare category
 * takes the page and the count from the other equalities; a rare status, or a template, keeps
 * them from the category (a template's index is read as before 0025). A common category with a
 * status: the page walks the category newest first (testing the status), and the count reads
 * whichever of the two has fewer messages (both counted on their indexes, at most
 * COUNTABLE_STATUS entries; the status's on a tie, as before 0025).
 */
async function planFor(db: Kysely<DB>, f: MessageFilter): Promise<Plan> {
  if (f.dialect !== 'sqlite') return { narrow: false, narrowable: false };
  const terms = f.search?.terms;
  const narrower = !!f.to || !!terms?.to.some((t) => t.whole) || (terms?.id.length ?? 0) > 0;
  const status = f.status ?? terms?.status[0];
  const template = f.template_key ?? terms?.template[0];
  const category = f.category ?? terms?.category[0];
  // How many messages an equality has, counted on its index (covering), at most `cap`.
  const counted = async (column: 'status' | 'template_key' | 'category', value: string, cap: number) => {
    const { rows } = await sql<{ n: number }>`select count(*) as n from (select 1 from email_messages
      where ${sql.ref(column)} = ${value} limit ${cap})`.execute(db);
    return Number(rows[0]?.n ?? 0);
  };
  let commonStatus = false;
  let rareTemplate = false;
  let rareStatus = false;
  let rareCategory = false;
  if (!narrower && template) rareTemplate = (await counted('template_key', template, COMMON_STATUS)) < COMMON_STATUS;
  let categoryRows = Number.POSITIVE_INFINITY;
  if (!narrower && !rareTemplate && category) {
    // Compared with a status's count (see below), else only rare or not.
    categoryRows = await counted('category', category, status ? COUNTABLE_STATUS : COMMON_STATUS);
    rareCategory = categoryRows < COMMON_STATUS;
  }
  let statusCountable = false;
  let statusRows = Number.POSITIVE_INFINITY;
  if (!narrower && !rareTemplate && !rareCategory && status) {
    statusRows = await counted('status', status, COUNTABLE_STATUS);
    rareStatus = statusRows < COMMON_STATUS;
    commonStatus = !rareStatus && !template;
    statusCountable = statusRows < COUNTABLE_STATUS && !template;
  }
  // A time range with few messages (counted on email_messages_created, covering).
  const after = Math.max(f.since ?? Number.NEGATIVE_INFINITY, terms?.after ?? Number.NEGATIVE_INFINITY);
  const before = Math.min(f.until ?? Number.POSITIVE_INFINITY, terms?.before ?? Number.POSITIVE_INFINITY);
  let rareRange = false;
  if (
    !narrower &&
    !rareTemplate &&
    !rareStatus &&
    !rareCategory &&
    (Number.isFinite(after) || Number.isFinite(before))
  ) {
    const { rows } = await sql<{ n: number }>`select count(*) as n from (select 1 from email_messages
      where created_at >= ${Number.isFinite(after) ? after : 0}
        and created_at < ${Number.isFinite(before) ? before : Number.MAX_SAFE_INTEGER}
      limit ${COMMON_STATUS})`.execute(db);
    rareRange = Number(rows[0]?.n ?? 0) < COMMON_STATUS;
  }
  const rare = rareTemplate || rareStatus || rareRange || rareCategory;
  // The count reads no order: a common status is counted on its index (covering, capped). A rare
  // status with a common template: the status's index, not the template's.
  const templateOff = narrower || (rareStatus && !!template) || rareCategory;
  // A common category with a template: the template's index, as before 0025.
  const categoryOff = narrower || rareStatus || (!!template && !rareCategory);
  return {
    page: { status: narrower || commonStatus || rareCategory, template: templateOff, category: categoryOff },
    count: {
      status: narrower || rareCategory || (!!status && !categoryOff && categoryRows < statusRows),
      template: templateOff,
      category: categoryOff || (!!status && statusRows <= categoryRows),
    },
    narrow: narrower || rare,
    narrowable: narrower || !!template || !!status || !!category || Number.isFinite(after) || Number.isFinite(before),
    countOnMessages: statusCountable,
  };
}

/**
 * SQLite, a search with fragments: whether to read the messages through their own indexes rather
 * than message_search. message_search lists a fragment's matches newest first and each is tested
 * against the rest: with `status:queued` (none) or a whole address, a fragment found in most of
 * the archive (`client`) read all of its matches (270 ms on 200,000 messages). When something
 * narrower is there and every fragment is ASCII (tested on the row by LIKE, the same answer), the
 * narrow index is read instead. A cursor keeps the way its first page went.
 */
function offTheSearchIndex(f: MessageFilter, plan: Plan, cursor?: string): boolean {
  if (f.dialect !== 'sqlite') return false;
  if (!f.search || !fragmentsAllOnRow(f.search.terms, f.search.context)) return false;
  // A cursor of message_search's order (rowid) is followed off it in that order while the list is
  // narrow. An id cursor is another list's unless this one could have gone off the index: it is
  // then refused by message_search's way.
  if (cursor && !isRowidCursor(cursor)) return plan.narrowable;
  return plan.narrow;
}

const isRowidCursor = (cursor: string) => Buffer.from(cursor, 'base64url').toString().startsWith('r');

const isStatementTimeout = (err: unknown) => (err as { code?: unknown } | null)?.code === '57014';

/**
 * PostgreSQL: `run` in a transaction whose two statements stop after timeoutMs in all, a 400 then;
 * SQLite: `run` as is (its queries cannot be interrupted: steering keeps them on an index).
 */
async function bounded<T>(
  db: Kysely<DB>,
  dialect: Dialect | undefined,
  timeoutMs: number,
  run: (db: Kysely<DB>) => Promise<T>,
) {
  if (dialect !== 'postgres') return run(db);
  try {
    return await db.transaction().execute(async (trx) => {
      // Per statement: the page and the count get half each, the list at most timeoutMs in all.
      await sql`set local statement_timeout = ${sql.lit(Math.max(1, Math.floor(timeoutMs / 2)))}`.execute(trx);
      return run(trx);
    });
  } catch (err) {
    if (!isStatementTimeout(err)) throw err;
    throw new AppError(
      'invalid_search',
      `This list reads too much of the archive to answer within ${timeoutMs / 1000} s: narrow it (a whole address, a template, a date range, a longer part of a word)`,
      { timeout_ms: timeoutMs },
    );
  }
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

type MessageRowSummary = Parameters<typeof messageSummary>[0];

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

export async function listMessages(
  db: Kysely<DB>,
  filter: MessageFilter,
  limit: number,
  cursor?: string,
  opts: { timeoutMs?: number } = {},
) {
  return bounded(db, filter.dialect, opts.timeoutMs ?? LIST_TIMEOUT_MS, (db) => listBounded(db, filter, limit, cursor));
}

/** A list's two queries (its page, its capped count) as they are run without message_search (tests read their plans). */
export async function listQueries(db: Kysely<DB>, filter: MessageFilter, limit: number, cursor?: string, plan?: Plan) {
  const steering = plan ?? (await planFor(db, filter));
  // Without message_search (a search read off it tests its fragments on the rows: see offTheSearchIndex).
  const bare = filter.dialect === 'sqlite';
  const matching = applyFilter(db.selectFrom('email_messages').select('id'), filter, bare, steering.count).limit(
    TOTAL_CAP + 1,
  );
  const count = db.selectFrom(matching.as('m')).select((eb) => eb.fn.countAll<number>().as('n'));
  const columns = db.selectFrom('email_messages').select([...SUMMARY_COLUMNS]);
  // A search's page after one read from message_search: in its order (rowid), from its cursor on.
  if (bare && filter.search && cursor && isRowidCursor(cursor)) {
    const rowid = sql<number>`email_messages.rowid`;
    const page = applyFilter(columns.select(rowid.as('rowid')), filter, bare, steering.page)
      .where(rowid, '<', rowidParam(decodeCursor(cursor, 'rowid')))
      .orderBy(rowid, 'desc')
      .limit(limit + 1);
    return { page, count, byRowid: true };
  }
  let page = applyFilter(columns, filter, bare, steering.page);
  if (cursor) page = page.where('id', '<', decodeCursor(cursor, 'id'));
  return { page: page.orderBy('id', 'desc').limit(limit + 1), count, byRowid: false };
}

/** SQLite: what a list reads first, message_search or the messages' own indexes (tests ask). */
export async function listSource(db: Kysely<DB>, filter: MessageFilter, cursor?: string) {
  const match = filter.search ? ftsMatch(filter.search.terms, filter.search.context) : null;
  if (match === null) return 'messages';
  return offTheSearchIndex(filter, await planFor(db, filter), cursor) ? 'messages' : 'search_index';
}

/** SQLite: what a search's count reads, when its page is read from message_search (tests ask). */
export async function countSource(db: Kysely<DB>, filter: MessageFilter) {
  const plan = await planFor(db, filter);
  const ascii = !!filter.search && fragmentsAllOnRow(filter.search.terms, filter.search.context);
  return plan.countOnMessages && ascii ? 'messages' : 'search_index';
}

async function listBounded(db: Kysely<DB>, filter: MessageFilter, limit: number, cursor?: string) {
  const match = filter.search ? ftsMatch(filter.search.terms, filter.search.context) : null;
  const plan = await planFor(db, filter);
  if (match !== null && !offTheSearchIndex(filter, plan, cursor)) {
    const onMessages =
      plan.countOnMessages && filter.search && fragmentsAllOnRow(filter.search.terms, filter.search.context);
    const count = onMessages ? (await listQueries(db, filter, limit, undefined, plan)).count : undefined;
    return listFromSearchIndex(db, match, filter, limit, cursor, count);
  }
  const queries = await listQueries(db, filter, limit, cursor, plan);
  const rows: Array<MessageRowSummary & { rowid?: number }> = await queries.page.execute();
  const totalRow = await queries.count.executeTakeFirstOrThrow();
  const page = rows.slice(0, limit);
  const total = Number(totalRow.n);
  const last = page[page.length - 1];
  return {
    items: page.map(messageSummary),
    total: Math.min(total, TOTAL_CAP),
    total_capped: total > TOTAL_CAP,
    next_cursor: rows.length > limit && last ? encodeCursor(queries.byRowid ? `r${last.rowid}` : last.id) : null,
  };
}

/** A rowid as the SQLite driver binds an INTEGER (a bigint; a number would be a REAL). */
export const rowidParam = (digits: string) => BigInt(digits) as unknown as number;

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
/** A search's two queries read from message_search (its page, its capped count): SQLite only. */
export function searchIndexQueries(
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
  // Bound as an integer: better-sqlite3 binds a JS number as REAL, and FTS5 given `rowid < 1.0`
  // reads the match's whole list from its newest entry down (a deep page, or a forged cursor
  // `r1`, cost a second on 2,000,000 messages) instead of starting at the cursor.
  if (cursor) q = q.where(sql<number>`message_search.rowid`, '<', rowidParam(decodeCursor(cursor, 'rowid')));
  return {
    page: q.orderBy('message_search.rowid', 'desc').limit(limit + 1),
    count: sdb
      .selectFrom(
        base()
          .select('message_search.rowid')
          .limit(TOTAL_CAP + 1)
          .as('m'),
      )
      .select((eb) => eb.fn.countAll<number>().as('n')),
  };
}

async function listFromSearchIndex(
  db: Kysely<DB>,
  match: string,
  filter: MessageFilter,
  limit: number,
  cursor?: string,
  /** The count read elsewhere (see Plan.countOnMessages). */
  count?: { executeTakeFirstOrThrow(): Promise<{ n: number }> },
) {
  const queries = searchIndexQueries(db, match, filter, limit, cursor);
  const rows = await queries.page.execute();
  const totalRow = await (count ?? queries.count).executeTakeFirstOrThrow();
  const page = rows.slice(0, limit);
  const total = Number(totalRow.n);
  return {
    items: page.map(messageSummary),
    total: Math.min(total, TOTAL_CAP),
    total_capped: total > TOTAL_CAP,
    next_cursor: rows.length > limit ? encodeCursor(`r${page[page.length - 1]!.rowid}`) : null,
  };
}

/**
 * One message's row with its bodies (wherever they are stored), in one query: the body is joined,
 * not read after the row (a round trip less on PostgreSQL), by a statement PostgreSQL prepares
 * (reused-sql.ts). 404 message_not_found.
 */
export async function messageWithBodies(db: Kysely<DB>, id: string): Promise<MessageRow> {
  const [row] = await reusedQuery(db, 'message with bodies', [id], () =>
    db
      .selectFrom('email_messages as m')
      .leftJoin('email_bodies as b', 'b.id', 'm.body_id')
      .selectAll('m')
      .select(['b.encoding as joined_body_encoding', 'b.data as joined_body_data'])
      .where('m.id', '=', id),
  );
  if (!row) throw new AppError('message_not_found', `No message ${id}`);
  const { joined_body_encoding, joined_body_data, ...message } = row;
  return withJoinedBody(message, joined_body_encoding, joined_body_data);
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
    cc: addressList(m.cc),
    bcc: addressList(m.bcc),
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
