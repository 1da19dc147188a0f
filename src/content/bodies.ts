import { brotliDecompressSync, deflateRawSync, inflateRawSync } from 'node:zlib';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Dialect } from '../platform/db/database.js';
import { insertRows, reusedQuery } from '../platform/db/reused-sql.js';
import type { DB, MessageRow } from '../platform/db/schema.js';

/** A message's rendered bodies, as the archive keeps them. */
export interface Body {
  html: string | null;
  text: string | null;
}

/**
 * Raw deflate (level 6) of the JSON array [html, text]. Measured in the accept path of a running
 * server on the benchmark's 5.5 KB notice: about 100 µs of the event loop per body, where Brotli
 * took 230 µs at quality 5 and 180 µs at quality 4 (a fresh Brotli encoder's tables are cold in
 * the cache of a busy process: three times its cost in a loop of its own). The body is 1,530
 * bytes against Brotli's 1,350: the row, its indexes and its event weigh more than that
 * difference. Bodies written as `br-json` (Brotli) before stay readable.
 */
export const BODY_ENCODING = 'deflate-json';
const BROTLI_ENCODING = 'br-json';

export function encodeBody(body: Body): Buffer {
  return deflateRawSync(Buffer.from(JSON.stringify([body.html, body.text]), 'utf8'), { level: 6 });
}

export function decodeBody(encoding: string, data: Uint8Array): Body {
  let json: Buffer;
  if (encoding === BODY_ENCODING) json = inflateRawSync(data);
  else if (encoding === BROTLI_ENCODING) json = brotliDecompressSync(data);
  else throw new Error(`unknown body encoding ${encoding}`);
  const [html, text] = JSON.parse(json.toString('utf8')) as [string | null, string | null];
  return { html, text };
}

/** A rendering compressed ahead of its transaction; storeBodies then stores it as it is. */
export interface EncodedBody extends Body {
  data: Buffer;
}

/**
 * Each of `bodies` compressed, in order, each distinct rendering once (the items of a batch often
 * share one). The accept path calls it just before a commit, so the compression does not run
 * inside the transaction that holds SQLite's write lock. (On libuv's thread pool instead, accept
 * was slower: the pool also runs the WAL fsyncs every answer waits for.)
 */
export function encodeAllAhead(bodies: Body[]): EncodedBody[] {
  const seen = new DistinctBodies<EncodedBody>();
  return bodies.map((b) => {
    let e = seen.get(b.html, b.text);
    if (!e) {
      e = { ...b, data: encodeBody(b) };
      seen.set(b.html, b.text, e);
    }
    return e;
  });
}

/**
 * Indexes of distinct (html, text) pairs. Maps keyed by the strings themselves: a string's hash is
 * computed once and kept by V8, where a joined key would copy and escape both bodies per message.
 */
class DistinctBodies<T> {
  private readonly byHtml = new Map<string | null, Map<string | null, T>>();
  /**
   * The pair last found or added: the items of a request usually come in runs of one rendering,
   * and comparing two equal strings costs less than hashing a new one (V8 hashes a string's
   * every character the first time it is a key).
   */
  private last: { html: string | null; text: string | null; value: T } | null = null;

  get(html: string | null, text: string | null): T | undefined {
    const last = this.last;
    if (last && last.html === html && last.text === text) return last.value;
    const value = this.byHtml.get(html)?.get(text);
    if (value !== undefined) this.last = { html, text, value };
    return value;
  }

  set(html: string | null, text: string | null, value: T): void {
    let byText = this.byHtml.get(html);
    if (!byText) this.byHtml.set(html, (byText = new Map()));
    byText.set(text, value);
    this.last = { html, text, value };
  }
}

type BodyColumns = Pick<MessageRow, 'html_content' | 'text_content' | 'body_id'>;
type NewBodyColumns = Partial<BodyColumns>;

/** PostgreSQL: `n` new ids of email_bodies' sequence, in one round trip. */
async function nextBodyIds(db: Kysely<DB>, n: number): Promise<number[]> {
  const got = await sql<{ id: string }>`select nextval(pg_get_serial_sequence('email_bodies', 'id')) as id
    from generate_series(1, ${n})`.execute(db);
  return got.rows.map((r) => Number(r.id));
}

/**
 * PostgreSQL: ids of email_bodies taken from its sequence ahead, `ahead` at a time, so a send
 * does not pay a round trip for them (one accept group was six statements, this one of them).
 * One pool per database (per SendService): ids are unique only within their own sequence. The
 * ids a process never uses are gaps, as nextval leaves when a transaction rolls back; every
 * process takes its own ranges, so processes sharing the database never take the same id.
 */
export class BodyIdPool {
  private ids: number[] = [];
  private refilling: Promise<void> | null = null;

  constructor(private readonly ahead = 64) {}

  async take(db: Kysely<DB>, n: number): Promise<number[]> {
    // One refill at a time; sends waiting on it take their share once it is in, in turn.
    while (this.ids.length < n) await (this.refilling ??= this.refill(db, n));
    return this.ids.splice(0, n);
  }

  private async refill(db: Kysely<DB>, n: number): Promise<void> {
    try {
      this.ids.push(...(await nextBodyIds(db, Math.max(this.ahead, n - this.ids.length))));
    } finally {
      this.refilling = null;
    }
  }
}

/** An email_bodies row to insert, its id already taken (reserveBodies on PostgreSQL). */
export interface BodyRow {
  id: number;
  encoding: string;
  data: Buffer;
}

/**
 * Moves the bodies of messages about to be inserted into email_bodies, compressed, once per
 * distinct rendering: the messages of one request share one row (`body_id`), their own columns
 * stay NULL. Call it in the transaction that inserts the messages (the references are foreign
 * keys). A body is one rendering of one request, with that request's variables: see
 * `dropBodies` for what erasure does with a shared one.
 */
export async function storeBodies(
  trx: Transaction<DB>,
  messages: NewBodyColumns[],
  dialect: Dialect = 'sqlite',
  /** Renderings already compressed (encodeAllAhead); any other one is compressed here. */
  encoded: readonly EncodedBody[] = [],
): Promise<void> {
  const rows = await reserveBodies(trx, messages, dialect, encoded);
  await insertRows(trx, 'email_bodies', rows);
}

/**
 * storeBodies, except that on PostgreSQL the rows are only given their ids (one round trip,
 * whatever their number), set on the messages, and returned: the caller inserts them in the
 * statement that inserts the messages (insertRowsTogether), before the messages. SQLite inserts
 * them here (each insert tells its id, and costs no round trip) and returns none.
 */
export async function reserveBodies(
  trx: Transaction<DB>,
  messages: NewBodyColumns[],
  dialect: Dialect,
  encoded: readonly EncodedBody[] = [],
  /** PostgreSQL: ids taken ahead (a send path's); without it, a round trip takes them. */
  pool?: BodyIdPool,
): Promise<BodyRow[]> {
  const ready = new DistinctBodies<Buffer>();
  for (const e of encoded) ready.set(e.html, e.text, e.data);
  // The distinct renderings, found by their strings (one rendering shared by a request's messages).
  const slot = new DistinctBodies<number>();
  const distinct: Body[] = [];
  const slots = messages.map((m) => {
    const html = m.html_content ?? null;
    const text = m.text_content ?? null;
    if (html === null && text === null) return -1;
    let i = slot.get(html, text);
    if (i === undefined) {
      i = distinct.push({ html, text }) - 1;
      slot.set(html, text, i);
    }
    return i;
  });
  if (distinct.length === 0) return [];
  const rows = distinct.map((b) => ({ encoding: BODY_ENCODING, data: ready.get(b.html, b.text) ?? encodeBody(b) }));
  let ids: number[];
  let reserved: BodyRow[] = [];
  if (dialect === 'postgres') {
    // The ids first (a multi-row RETURNING has no documented order); the rows are inserted with them.
    ids = pool ? await pool.take(trx, rows.length) : await nextBodyIds(trx, rows.length);
    reserved = rows.map((r, i) => ({ id: ids[i]!, ...r }));
  } else {
    // SQLite runs in-process: a statement per body costs no round trip.
    ids = [];
    for (const r of rows) {
      const [row] = await reusedQuery(trx, 'email_bodies:insert', [r.encoding, r.data], () =>
        trx.insertInto('email_bodies').values(r).returning('id'),
      );
      ids.push(Number(row!.id));
    }
  }
  messages.forEach((m, i) => {
    const at = slots[i]!;
    if (at < 0) return;
    m.body_id = ids[at]!;
    m.html_content = null;
    m.text_content = null;
  });
  return reserved;
}

/**
 * Rows with their bodies in html_content and text_content, wherever they are: in email_bodies
 * (`body_id`), or still in the row's own columns (written before bodies moved out, until the
 * background move reaches them: see moveInlineBodies).
 */
export async function withBodies<R extends BodyColumns>(db: Kysely<DB>, rows: R[]): Promise<R[]> {
  const wanted = [...new Set(rows.filter((r) => r.body_id != null).map((r) => Number(r.body_id)))];
  if (wanted.length === 0) return rows;
  const found = await db
    .selectFrom('email_bodies')
    .select(['id', 'encoding', 'data'])
    .where('id', 'in', wanted)
    .execute();
  const bodies = new Map(found.map((b) => [Number(b.id), decodeBody(b.encoding, b.data)]));
  return rows.map((r) => withBody(r, r.body_id == null ? undefined : bodies.get(Number(r.body_id))));
}

/**
 * A row with the body read in the same query (`encoding` and `data` of its `email_bodies` row,
 * joined on `body_id`; both null when it has none): one round trip where withBodies takes two.
 */
export function withJoinedBody<R extends BodyColumns>(row: R, encoding: string | null, data: Uint8Array | null): R {
  return withBody(
    row,
    row.body_id == null || encoding === null || data === null ? undefined : decodeBody(encoding, data),
  );
}

/** The row with `body` in its content columns; as it is without one (its columns hold the content). */
function withBody<R extends BodyColumns>(row: R, body: Body | undefined): R {
  return body ? { ...row, html_content: body.html, text_content: body.text } : row;
}

/**
 * Deletes those of `ids` no message references any more (their last reference was just cleared
 * or deleted in `trx`). Returns how many went.
 */
export async function deleteUnreferencedBodies(trx: Kysely<DB>, ids: number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await trx
    .deleteFrom('email_bodies')
    .where('id', 'in', ids)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('email_messages as m').select('m.id').whereRef('m.body_id', '=', 'email_bodies.id'))),
    )
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/**
 * Every body no message references (a body and its messages are written in one transaction, so
 * such a body is left over for good: a race between an anonymization and the move of old bodies).
 * Walks email_bodies by id, `batch` per transaction.
 */
export async function sweepUnreferencedBodies(
  db: Kysely<DB>,
  yieldToOthers: () => Promise<void> = async () => {},
  batch = 1000,
): Promise<number> {
  let deleted = 0;
  for (let after = 0; ; ) {
    const ids = (
      await db.selectFrom('email_bodies').select('id').where('id', '>', after).orderBy('id').limit(batch).execute()
    ).map((r) => Number(r.id));
    if (ids.length === 0) return deleted;
    deleted += await db.transaction().execute((trx) => deleteUnreferencedBodies(trx, ids));
    after = ids[ids.length - 1]!;
    if (ids.length < batch) return deleted;
    await yieldToOthers();
  }
}
