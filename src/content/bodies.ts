import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Dialect } from '../platform/db/database.js';
import { reusedQuery } from '../platform/db/reused-sql.js';
import type { DB, MessageRow } from '../platform/db/schema.js';

/** A message's rendered bodies, as the archive keeps them. */
export interface Body {
  html: string | null;
  text: string | null;
}

/**
 * Brotli at quality 5 in text mode: a 1.2 KB notice becomes 600 bytes in about 0.1 ms. Quality 11
 * saves 8 % more for 50 times the time; gzip (deflate) is about as small and as fast. Measured
 * on the benchmark's notice (bench/archive.ts).
 */
const BROTLI = {
  params: {
    [constants.BROTLI_PARAM_QUALITY]: 5,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
  },
};

export const BODY_ENCODING = 'br-json';

export function encodeBody(body: Body): Buffer {
  const json = Buffer.from(JSON.stringify([body.html, body.text]), 'utf8');
  return brotliCompressSync(json, {
    ...BROTLI,
    params: { ...BROTLI.params, [constants.BROTLI_PARAM_SIZE_HINT]: json.length },
  });
}

export function decodeBody(encoding: string, data: Uint8Array): Body {
  if (encoding !== BODY_ENCODING) throw new Error(`unknown body encoding ${encoding}`);
  const [html, text] = JSON.parse(brotliDecompressSync(data).toString('utf8')) as [string | null, string | null];
  return { html, text };
}

type BodyColumns = Pick<MessageRow, 'html_content' | 'text_content' | 'body_id'>;
type NewBodyColumns = Partial<BodyColumns>;

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
): Promise<void> {
  // The distinct renderings, found by their strings (one rendering shared by a request's messages).
  const slot = new Map<string, number>();
  const distinct: Body[] = [];
  const slots = messages.map((m) => {
    if (m.html_content == null && m.text_content == null) return -1;
    const key = JSON.stringify([m.html_content, m.text_content]);
    let i = slot.get(key);
    if (i === undefined) {
      i = distinct.push({ html: m.html_content ?? null, text: m.text_content ?? null }) - 1;
      slot.set(key, i);
    }
    return i;
  });
  if (distinct.length === 0) return;
  const rows = distinct.map((b) => ({ encoding: BODY_ENCODING, data: encodeBody(b) }));
  let ids: number[];
  if (dialect === 'postgres' && rows.length > 1) {
    // Two round trips whatever the number of bodies: the ids first (a multi-row RETURNING has no
    // documented order), then one insert with them.
    const got = await sql<{ id: string }>`select nextval(pg_get_serial_sequence('email_bodies', 'id')) as id
      from generate_series(1, ${rows.length})`.execute(trx);
    ids = got.rows.map((r) => Number(r.id));
    await trx
      .insertInto('email_bodies')
      .values(rows.map((r, i) => ({ ...r, id: ids[i]! })))
      .execute();
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
  return rows.map((r) => {
    const body = r.body_id == null ? undefined : bodies.get(Number(r.body_id));
    return body ? { ...r, html_content: body.html, text_content: body.text } : r;
  });
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
