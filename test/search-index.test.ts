import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Kysely, Migrator, sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { INDEX_BATCH, SearchIndex } from '../src/messages/search-index.js';
import { openDatabase } from '../src/platform/db/database.js';
import { migrations } from '../src/platform/db/migrations/index.js';
import { createLogger } from '../src/platform/log.js';
import { registry } from '../src/platform/metrics.js';
import { sendOk } from './helpers/archive.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { invoiceExample } from './helpers/fixtures.js';
import { messageRow } from './helpers/rows.js';
import { migrateTo } from './helpers/migrate-to.js';

/**
 * SQLite's search index is filled after the commit (migration 0021): a new message waits in
 * message_search_pending until a background batch or a search indexes it.
 */
describe('the SQLite search index, filled after the commit', () => {
  let t: TestContext;
  const db = () => t.services.db as unknown as Kysely<any>;

  const pending = async () =>
    (await sql<{ r: number }>`select message_rowid as r from message_search_pending order by 1`.execute(db())).rows.map(
      (x) => x.r,
    );
  const rowidOf = async (id: string) =>
    (await sql<{ r: number }>`select rowid as r from email_messages where id = ${id}`.execute(db())).rows[0]!.r;
  /** Read from the index itself (no catching up): which rowids match. */
  const inIndex = async (match: string) =>
    (
      await sql<{ r: number }>`select rowid as r from message_search where message_search match ${match}`.execute(db())
    ).rows.map((x) => x.r);
  /** How many index rows hold this term: 2 would mean a message indexed twice. */
  const docsWith = async (term: string) =>
    (await sql<{ doc: number }>`select doc from search_vocab where term = ${term}`.execute(db())).rows[0]?.doc ?? 0;
  const searchIds = async (q: string) => {
    const res = await t.inject({ method: 'GET', url: `/api/v1/email/messages?q=${encodeURIComponent(q)}` });
    expect(res.statusCode, res.body).toBe(200);
    return (res.json().items as { id: string }[]).map((i) => i.id).sort();
  };
  const send = async (to: string) => (await sendOk(t, { ...invoiceExample(), to }))[0]!;
  /** A job of its own, as serve runs one, polling every `intervalMs`. */
  const backgroundIndex = (intervalMs: number, log = createLogger('silent')) =>
    new SearchIndex({ db: t.services.db, commits: t.services.commits, dialect: 'sqlite', log, intervalMs });

  beforeAll(async () => {
    t = await createTestContext('sqlite');
    await sql`create virtual table temp.search_vocab using fts5vocab(main, message_search, 'row')`.execute(db());
  });
  afterEach(() => t.services.searchIndex.stop());
  afterAll(() => t.close());

  it('keeps a new message out of the index until a search, which finds it and indexes everything pending', async () => {
    const a = await send('alpha.qx1@first.bj');
    const b = await send('bravo.qx1@second.bj');
    const [ra, rb] = [await rowidOf(a), await rowidOf(b)];
    expect(await pending()).toEqual(expect.arrayContaining([ra, rb]));
    expect(await inIndex('recipient : "qx1@"')).toEqual([]);

    expect(await searchIds('qx1@')).toEqual([a, b].sort());
    expect(await pending()).toEqual([]);
    expect((await inIndex('recipient : "qx1@"')).sort()).toEqual([ra, rb].sort());
    expect(await docsWith('qx1')).toBe(2);
  });

  it('says in GET /api/v1/system how many messages wait for the index', async () => {
    await t.services.searchIndex.catchUp();
    await send('one.sy4@seventh.bj');
    await send('two.sy4@seventh.bj');
    const system = async () => (await t.inject({ method: 'GET', url: '/api/v1/system' })).json().search_index;
    expect(await system()).toEqual({ kind: 'sqlite_fts5', pending: 2 });
    await t.services.searchIndex.catchUp();
    expect(await system()).toEqual({ kind: 'sqlite_fts5', pending: 0 });
  });

  it('indexes in the background, a batch at a time, counted in /metrics', async () => {
    for (let i = 0; i < 3; i++) await send(`bg${i}.zq7@third.bj`);
    expect(await inIndex('recipient : "zq7@"')).toEqual([]);
    const before = (await registry.getSingleMetric('postier_search_indexed_total')!.get()).values[0]?.value ?? 0;
    const index = backgroundIndex(10);
    index.start();
    try {
      await expect.poll(pending, { timeout: 5000 }).toEqual([]);
    } finally {
      await index.stop();
    }
    expect(await inIndex('recipient : "zq7@"')).toHaveLength(3);
    const after = (await registry.getSingleMetric('postier_search_indexed_total')!.get()).values[0]!.value;
    expect(after - before).toBeGreaterThanOrEqual(3);
    const metrics = await t.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^postier_search_index_pending 0$/m);
  });

  it('indexes a pending message with the values it has then, and re-indexes an indexed one that changes', async () => {
    const indexedOne = await send('old.kw4@fourth.bj');
    await t.services.searchIndex.catchUp();
    expect(await inIndex('recipient : "kw4@"')).toEqual([await rowidOf(indexedOne)]);
    await t.services.db
      .updateTable('email_messages')
      .set({ recipient_email: 'new.kw4@fourth.bj' })
      .where('id', '=', indexedOne)
      .execute();
    expect(await searchIds('old.kw4')).toEqual([]);
    expect(await searchIds('new.kw4')).toEqual([indexedOne]);
    expect(await docsWith('kw4')).toBe(1);

    // A message still pending when it changes (anonymized before the job ran) is indexed as it is then.
    const late = await send('old.kw5@fourth.bj');
    expect(await pending()).toEqual([await rowidOf(late)]);
    await t.services.db
      .updateTable('email_messages')
      .set({ recipient_email: 'new.kw5@fourth.bj', subject: 'Renamed kw5' })
      .where('id', '=', late)
      .execute();
    expect(await searchIds('old.kw5')).toEqual([]);
    expect(await searchIds('new.kw5')).toEqual([late]);
    expect(await docsWith('kw5')).toBe(1);
  });

  it('forgets a deleted message wherever it was, and indexes a reused rowid once', async () => {
    const gone = await send('gone.dl8@fifth.bj');
    const goneRowid = await rowidOf(gone);
    await t.services.db.deleteFrom('email_messages').where('id', '=', gone).execute();
    expect(await pending()).not.toContain(goneRowid);

    const kept = await send('kept.dl8@fifth.bj');
    await t.services.searchIndex.catchUp();
    expect(await searchIds('dl8@')).toEqual([kept]);
    // The newest row deleted once indexed: SQLite gives its rowid to the next message.
    const keptRowid = await rowidOf(kept);
    await t.services.db.deleteFrom('email_messages').where('id', '=', kept).execute();
    expect(await inIndex('recipient : "dl8@"')).toEqual([]);
    const next = await send('next.dl9@fifth.bj');
    expect(await rowidOf(next)).toBe(keptRowid);
    expect(await searchIds('dl8@')).toEqual([]);
    expect(await searchIds('dl9@')).toEqual([next]);
    expect(await docsWith('dl9')).toBe(1);
  });

  it('backs off while the index cannot be written, warns once, and says when it works again', async () => {
    const lines: Array<{ msg: string; level: number }> = [];
    const index = backgroundIndex(5, createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l)) }));
    // What a broken table looks like to the job: every run fails.
    await sql`alter table message_search_pending rename to message_search_pending_away`.execute(db());
    index.start();
    try {
      try {
        await new Promise((r) => setTimeout(r, 600));
        const warned = lines.filter((l) => l.msg.startsWith('search index: pending messages not indexed'));
        // Every 5 ms without a pause that would be over a hundred runs, each logged.
        expect(warned).toHaveLength(1);
      } finally {
        await sql`alter table message_search_pending_away rename to message_search_pending`.execute(db());
      }
      await expect
        .poll(() => lines.some((l) => l.msg === 'search index: indexing again'), { timeout: 10_000 })
        .toBe(true);
    } finally {
      await index.stop();
    }
  });

  it('catches up more than one batch, and indexes each message once when a search and the job race', async () => {
    const values = Array.from({ length: INDEX_BATCH * 2 + 37 }, (_, i) =>
      messageRow(`01900000-0000-7000-8000-${String(i).padStart(12, '0')}`, `bulk${i}.rc2@sixth.bj`),
    );
    for (let i = 0; i < values.length; i += 100)
      await db()
        .insertInto('email_messages')
        .values(values.slice(i, i + 100))
        .execute();
    expect(await pending()).toHaveLength(values.length);
    const index = backgroundIndex(1);
    index.start();
    try {
      await Promise.all([t.services.searchIndex.catchUp(), t.services.searchIndex.catchUp()]);
      expect(await pending()).toEqual([]);
    } finally {
      await index.stop();
    }
    expect(await docsWith('rc2')).toBe(values.length);
    const page = await t.inject({ method: 'GET', url: '/api/v1/email/messages?q=rc2%40&limit=5' });
    expect(page.json().total).toBe(values.length);
  });
});

describe('migration 0021 on an archive indexed by 0018', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-0021-'));
  const url = `sqlite:${path.join(dir, 'postier.db')}`;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves the messages already indexed searchable, queues new ones, and goes back down', async () => {
    const database = openDatabase(url);
    const db = database.db as unknown as Kysely<any>;
    const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
    try {
      expect((await migrateTo(migrator, '0020_search_pending_list')).error).toBeUndefined();
      await db
        .insertInto('email_messages')
        .values(messageRow('01900000-0000-7000-8000-000000000001', 'before.mg1@old.bj'))
        .execute();
      expect((await migrateTo(migrator, '0021_search_index_deferred')).error).toBeUndefined();
      const match = async (m: string) =>
        (await sql<{ r: number }>`select rowid as r from message_search where message_search match ${m}`.execute(db))
          .rows.length;
      const pendingCount = async () =>
        Number((await sql<{ n: number }>`select count(*) as n from message_search_pending`.execute(db)).rows[0]!.n);
      expect(await match('recipient : "mg1@"')).toBe(1);
      expect(await pendingCount()).toBe(0);
      await db
        .insertInto('email_messages')
        .values(messageRow('01900000-0000-7000-8000-000000000002', 'after.mg2@old.bj'))
        .execute();
      expect(await pendingCount()).toBe(1);
      expect(await match('recipient : "mg2@"')).toBe(0);
      // Down again: the pending message is indexed and the insert trigger indexes at once.
      expect((await migrateTo(migrator, '0020_search_pending_list')).error).toBeUndefined();
      expect(await match('recipient : "mg2@"')).toBe(1);
      await db
        .insertInto('email_messages')
        .values(messageRow('01900000-0000-7000-8000-000000000003', 'down.mg3@old.bj'))
        .execute();
      expect(await match('recipient : "mg3@"')).toBe(1);
    } finally {
      await database.close();
    }
  });
});
