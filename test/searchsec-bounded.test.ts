import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recipientOf, addressOf, seedMessagesSql } from '../bench/lib/archive-seed.js';
import {
  countSource,
  listMessages,
  listQueries,
  listSource,
  type MessageFilter,
  searchIndexQueries,
} from '../src/messages/queries.js';
import { ftsMatch } from '../src/messages/search.js';
import { parseSearchQuery } from '../src/messages/search-query.js';
import { AppError } from '../src/platform/errors.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';

/**
 * Outside review of the archive's read side: which index a list takes, and how long it may run.
 * 3,000 messages written as bench/archive.ts seeds them (90 % delivered, 2 % bounced, …).
 */
const N = 3000;

describe.each(backends)('archive lists stay on an index, or stop (%s)', (backend) => {
  let t: TestContext;
  const address = addressOf(recipientOf(1234));

  beforeAll(async () => {
    t = await createTestContext(backend);
    // The seed's bodies are not needed by a list: one body row for the foreign key.
    await sql`insert into email_bodies (id, encoding, data) values (1, 'gzip', ${Buffer.from([])})`.execute(
      t.services.db,
    );
    const seed = seedMessagesSql(backend === 'postgres', Date.now(), N, 1, N).replace(/i \/ 50 \+ 1/, '1');
    await sql.raw(seed).execute(t.services.db);
    if (backend === 'postgres') await sql`analyze email_messages`.execute(t.services.db);
  });
  afterAll(() => t.close());

  const list = async (query: string) => {
    const res = await t.inject({ method: 'GET', url: `/api/v1/email/messages?${query}` });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as {
      items: { id: string; to: string; status: string }[];
      total: number;
      next_cursor: string | null;
    };
  };

  /** SQLite's plan of each of a list's queries, one string each. */
  const plans = async (filter: MessageFilter) => {
    const { page, count } = await listQueries(t.services.db, { ...filter, dialect: 'sqlite' }, 50);
    const plan = async (q: { compile(): CompiledQuery }) => {
      const c = q.compile();
      const r = await t.services.db.executeQuery<{ detail: string }>(
        CompiledQuery.raw(`explain query plan ${c.sql}`, [...c.parameters]),
      );
      return r.rows.map((x) => x.detail).join(' | ');
    };
    return { page: await plan(page), count: await plan(count) };
  };

  it.runIf(backend === 'sqlite')(
    "a recipient's list with a status reads that recipient's index, not every message of the status",
    async () => {
      // Before: email_messages_due (status, …) chosen, every delivered message read and sorted.
      for (const filter of [
        { to: address, status: 'delivered' as const },
        { to: address, template_key: 'billing_reminder' },
        { search: { terms: parseSearchQuery(`to:${address} status:delivered`), context: ctx() } },
        { search: { terms: parseSearchQuery('id:0192f3a4 status:bounced'), context: ctx() } },
      ]) {
        const p = await plans(filter);
        expect(p.page, JSON.stringify(filter)).not.toMatch(/email_messages_due|email_messages_template/);
        expect(p.count, JSON.stringify(filter)).not.toMatch(/email_messages_due|email_messages_template/);
      }
      expect((await plans({ to: address, status: 'delivered' })).page).toMatch(/email_messages_recipient_lower/);
    },
  );

  it.runIf(backend === 'sqlite')(
    'a common status is listed newest first without sorting all its messages',
    async () => {
      // 2,700 delivered: walking the messages by id finds a page at once; the status index would sort them all.
      const p = await plans({ status: 'delivered' });
      expect(p.page).not.toMatch(/TEMP B-TREE/);
      expect(p.page).not.toMatch(/email_messages_due/);
    },
  );

  it.runIf(backend === 'sqlite')('a search cursor is bound as an INTEGER, so FTS5 starts reading at it', async () => {
    // better-sqlite3 binds a JS number as REAL: FTS5 given `rowid < 1.0` read the match's whole
    // list from the newest down (100 ms at 200,000 messages for the forged cursor `r1`, 5 ms as an
    // integer). A bigint is bound as an INTEGER.
    const terms = parseSearchQuery('client');
    const match = ftsMatch(terms, ctx())!;
    const cursor = Buffer.from('r1').toString('base64url');
    const { page } = searchIndexQueries(t.services.db, match, { search: { terms, context: ctx() } }, 50, cursor);
    const c = page.compile();
    expect(c.parameters.some((p) => typeof p === 'bigint' && p === 1n)).toBe(true);
    expect(c.parameters.some((p) => typeof p === 'number' && p === 1)).toBe(false);
    // And it answers: nothing below rowid 1; from a real cursor on, the next page.
    expect((await list(`q=client&cursor=${cursor}`)).items).toEqual([]);
    const first = await list('q=client&limit=10');
    const second = await list(`q=client&limit=10&cursor=${first.next_cursor}`);
    expect(second.items.length).toBe(10);
    expect(second.items[0]!.id < first.items[9]!.id).toBe(true);
  });

  it.runIf(backend === 'sqlite')(
    'a search with a whole address, an id, or a rare status or template reads that index, not every match of a common word',
    async () => {
      // message_search listed `client` (every message) newest first and tested each against
      // status:queued: the whole archive read for an empty page.
      const source = (q: string, cursor?: string) =>
        listSource(
          t.services.db,
          { search: { terms: parseSearchQuery(q), context: ctx() }, dialect: 'sqlite' },
          cursor,
        );
      expect(await source('client status:queued')).toBe('messages');
      expect(await source('client status:rate_limited')).toBe('messages');
      expect(await source(`client to:${address}`)).toBe('messages');
      expect(await source('client id:0192f3a4')).toBe('messages');
      expect(await source('client template:nope')).toBe('messages');
      expect(await source('client template:billing_reminder status:queued')).toBe('messages');
      // A time range with few messages (here none: years before the archive).
      expect(await source('client after:2000-01-01 before:2001-01-01')).toBe('messages');
      expect(await source('client after:2000-01-01')).toBe('search_index');
      // A common status, a word alone, or a part outside ASCII (LIKE would not fold its case): the index.
      expect(await source('client status:delivered')).toBe('search_index');
      expect(await source('client')).toBe('search_index');
      expect(await source('réinit status:queued')).toBe('search_index');
      // A cursor keeps its list's way; another list's id cursor is refused by the search index.
      const idCursor = Buffer.from('ffffffff-ffff-7fff-bfff-ffffffffffff').toString('base64url');
      // A cursor from message_search (its page 1 went there) is followed off it, in its order.
      expect(await source('client status:queued', Buffer.from('r99').toString('base64url'))).toBe('messages');
      expect(await source('client status:delivered', Buffer.from('r99').toString('base64url'))).toBe('search_index');
      expect(await source('client status:queued', idCursor)).toBe('messages');
      expect(await source('zzzzqq', idCursor)).toBe('search_index');
      expect(
        (await t.inject({ method: 'GET', url: `/api/v1/email/messages?q=zzzzqq&cursor=${idCursor}` })).statusCode,
      ).toBe(400);
    },
  );

  it('a search read from either index gives the same messages, page after page', async () => {
    const rows = await t.services.db
      .selectFrom('email_messages')
      .select(['id', 'status', 'recipient_email', 'subject', 'template_key'])
      .orderBy('id', 'desc')
      .execute();
    const cases: Array<[string, (r: (typeof rows)[number]) => boolean]> = [
      ['inv-1 status:rate_limited', (r) => r.subject.toLowerCase().includes('inv-1') && r.status === 'rate_limited'],
      ['CLIENT status:complaint', (r) => r.status === 'complaint'],
      [`isp to:${address.toUpperCase()}`, (r) => r.recipient_email === address],
      [
        '"INV-2" template:billing_reminder status:bounced',
        (r) => r.subject.includes('INV-2') && r.template_key === 'billing_reminder' && r.status === 'bounced',
      ],
    ];
    for (const [q, want] of cases) {
      const expected = rows.filter(want).map((r) => r.id);
      expect(expected.length, q).toBeGreaterThan(0);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await list(`q=${encodeURIComponent(q)}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.total, q).toBe(expected.length);
        seen.push(...page.items.map((i) => i.id));
        cursor = page.next_cursor;
      } while (cursor);
      expect(seen, q).toEqual(expected);
    }
  });

  it.runIf(backend === 'sqlite')(
    "a search index cursor followed off the index keeps the index's order and its place",
    async () => {
      // As when a status was common for page 1 and is rare now (queued messages went out): a
      // forged `r<huge>` with status:queued read every match of `client` (3.3 s on 2,000,000).
      const first = await list('q=client&limit=500');
      const cursor = first.next_cursor!;
      const r = Number(Buffer.from(cursor, 'base64url').toString().slice(1));
      const { rows } = await sql<{ id: string; rowid: number }>`select id, rowid from email_messages
        where status = 'rate_limited' and rowid < ${sql.lit(r)} order by rowid desc`.execute(t.services.db);
      expect(rows.length).toBeGreaterThan(3);
      const seen: string[] = [];
      let next: string | null = cursor;
      do {
        const page = await list(`q=client%20status:rate_limited&limit=3&cursor=${next}`);
        seen.push(...page.items.map((i) => i.id));
        next = page.next_cursor;
        if (next) expect(Buffer.from(next, 'base64url').toString()).toMatch(/^r\d+$/);
      } while (next);
      expect(seen).toEqual(rows.map((x) => x.id));
    },
  );

  it.runIf(backend === 'sqlite')(
    "a search's count with a status of fewer than 50,000 messages reads them, not every match of a common word",
    async () => {
      // `client status:rate_limited` on 2,000,000 messages: 700 ms, the count reading message_search's
      // list of `client` until 10,001 rate-limited messages; 29 ms reading the 20,000 of them.
      const filter = (q: string): MessageFilter => ({
        search: { terms: parseSearchQuery(q), context: ctx() },
        dialect: 'sqlite',
      });
      expect(await listSource(t.services.db, filter('client status:delivered'))).toBe('search_index');
      expect(await countSource(t.services.db, filter('client status:delivered'))).toBe('messages');
      expect(await countSource(t.services.db, filter('client'))).toBe('search_index');
      expect(await countSource(t.services.db, filter('réinit status:delivered'))).toBe('search_index');
      // The same number either way.
      const { rows } = await sql<{ n: number }>`select count(*) as n from email_messages
        where status = 'delivered' and lower(subject) like '%inv-1%'`.execute(t.services.db);
      expect((await list('q=inv-1%20status:delivered')).total).toBe(Number(rows[0]!.n));
    },
  );

  it('the steered lists give the same answers', async () => {
    const rows = await t.services.db
      .selectFrom('email_messages')
      .select(['id', 'status', 'recipient_email'])
      .orderBy('id', 'desc')
      .execute();
    const mine = rows.filter((r) => r.recipient_email === address);
    expect(mine.length).toBeGreaterThan(0);
    const got = await list(`to=${encodeURIComponent(address.toUpperCase())}&status=${mine[0]!.status}`);
    expect(got.items.map((i) => i.id)).toEqual(mine.filter((m) => m.status === mine[0]!.status).map((m) => m.id));

    // Every delivered message, page after page, newest first, none twice.
    const delivered = rows.filter((r) => r.status === 'delivered').map((r) => r.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(`status=delivered&limit=500${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.total).toBe(delivered.length);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(delivered);
    const bounced = rows.filter((r) => r.status === 'bounced').map((r) => r.id);
    expect((await list('status=bounced&limit=500')).items.map((i) => i.id)).toEqual(bounced);
  });

  it.runIf(backend === 'postgres')(
    'PostgreSQL: a list that runs past its time limit stops with a 400, the connection still usable',
    async () => {
      // A fragment pg_trgm draws no trigram from (`%%%`) reads every row: seconds on millions of
      // messages. Here the list is held as long by a lock another transaction keeps on the table
      // for 3 s (a wait counts toward statement_timeout): 300 ms stands for the 5 s limit.
      const filter: MessageFilter = {
        search: { terms: parseSearchQuery('%%%'), context: { ...ctx(), dialect: 'postgres' } },
        dialect: 'postgres',
      };
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holder = t.services.db.transaction().execute(async (trx) => {
        await sql`lock table email_messages in access exclusive mode`.execute(trx);
        locked();
        await new Promise((r) => setTimeout(r, 3000));
      });
      await isLocked;
      const err = await listMessages(t.services.db, filter, 50, undefined, { timeoutMs: 300 }).catch((e: unknown) => e);
      await holder;
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('invalid_search');
      expect((err as AppError).status).toBe(400);
      // Within the default limit it answers, and the pool's connections work on.
      expect((await listMessages(t.services.db, filter, 50)).items).toEqual([]);
      expect((await list('status=bounced')).total).toBeGreaterThan(0);
    },
  );

  const ctx = () => ({
    dialect: backend,
    defaultFrom: 'noreply@example.com',
    hashAddress: (a: string) => a,
  });
});
