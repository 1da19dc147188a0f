import { mkdtempSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import SQLite, { type Database as SqliteDatabase } from '../src/platform/db/better-sqlite3.js';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyRow } from './helpers/rows.js';
import { type Database, openDatabase } from '../src/platform/db/database.js';
import { migrateToLatest } from '../src/platform/db/migrate.js';
import { StatementCache } from '../src/platform/db/sqlite-connection.js';

describe("Postier's SQLite driver", () => {
  let dir: string;
  let file: string;
  let database: Database;
  let fsyncs: number;
  const open = (lockWaitMs?: number) =>
    openDatabase(`sqlite:${file}`, {
      lockWaitMs,
      walFsync: async (h: FileHandle) => {
        fsyncs++;
        await h.sync();
      },
    });
  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'postier-driver-'));
    file = path.join(dir, 'db.sqlite');
    database = open();
    await migrateToLatest(database.db);
    fsyncs = 0;
  });
  afterEach(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fsyncs after what wrote (a write returning rows, DDL, a transaction that wrote), never after reads or a rollback', async () => {
    const db = database.db;
    const steps: Array<[string, () => Promise<unknown>, number]> = [
      ['select', () => db.selectFrom('api_keys').selectAll().execute(), 0],
      ['pragma read', () => sql`pragma user_version`.execute(db), 0],
      ['insert … returning', () => db.insertInto('api_keys').values(apiKeyRow('r')).returning('id').execute(), 1],
      ['ddl', () => sql`create table scratch (x integer)`.execute(db), 1],
      [
        'read-only transaction',
        () => db.transaction().execute((trx) => trx.selectFrom('api_keys').select('id').execute()),
        0,
      ],
      [
        'transaction that wrote',
        () => db.transaction().execute((trx) => trx.insertInto('api_keys').values(apiKeyRow('t')).execute()),
        1,
      ],
      [
        'transaction rolled back',
        () =>
          db
            .transaction()
            .execute(async (trx) => {
              await trx.insertInto('api_keys').values(apiKeyRow('gone')).execute();
              throw new Error('changed my mind');
            })
            .catch(() => {}),
        0,
      ],
    ];
    for (const [name, step, expected] of steps) {
      const before = fsyncs;
      await step();
      expect({ name, fsyncs: fsyncs - before }).toEqual({ name, fsyncs: expected });
    }
    expect((await db.selectFrom('api_keys').select('id').orderBy('id').execute()).map((r) => r.id)).toEqual(['r', 't']);
  });

  it('sizes the page cache from SQLITE_CACHE_MB, and keeps the driver’s own otherwise', async () => {
    const sized = openDatabase(`sqlite:${file}`, { cacheMb: 64 });
    const plain = openDatabase(`sqlite:${file}`);
    try {
      const size = async (d: Database) =>
        (await sql<{ cache_size: number }>`pragma cache_size`.execute(d.db)).rows[0]!.cache_size;
      expect(await size(sized)).toBe(-64 * 1024);
      // better-sqlite3's build default: 16 MB.
      expect(await size(plain)).toBe(-16000);
    } finally {
      await sized.close();
      await plain.close();
    }
  });

  it('reports the real error when SQLite already rolled the transaction back itself (disk full), not the failed ROLLBACK', async () => {
    const db = database.db;
    const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(db);
    await sql.raw(`pragma max_page_count = ${rows[0]!.page_count}`).execute(db);
    const big = db.transaction().execute(async (trx) => {
      await trx
        .insertInto('api_keys')
        .values({ ...apiKeyRow('big'), name: 'x'.repeat(400_000) })
        .execute();
    });
    await expect(big).rejects.toMatchObject({ code: 'SQLITE_FULL' });
    await sql.raw('pragma max_page_count = 1073741823').execute(db);
    // The connection is usable again, and nothing of the failed transaction stayed.
    await db.insertInto('api_keys').values(apiKeyRow('after')).execute();
    expect((await db.selectFrom('api_keys').select('id').execute()).map((r) => r.id)).toEqual(['after']);
  });

  it('serves reads while a write waits for another connection’s lock, and lets that write through once it is free', async () => {
    const other = new SQLite(file);
    other.prepare('begin immediate').run();
    try {
      let written = false;
      const write = database.db
        .insertInto('api_keys')
        .values(apiKeyRow('waited'))
        .execute()
        .then(() => (written = true));
      await new Promise((r) => setTimeout(r, 50));
      const rows = await database.db.selectFrom('api_keys').select('id').execute();
      expect(rows).toEqual([]);
      expect(written).toBe(false);
      other.prepare('commit').run();
      await write;
    } finally {
      other.close();
    }
    expect((await database.db.selectFrom('api_keys').select('id').execute()).map((r) => r.id)).toEqual(['waited']);
  });

  it('gives each query and transaction its own lock budget from when it asked, not one after another', async () => {
    const impatient = open(300);
    const other = new SQLite(file);
    other.prepare('begin immediate').run();
    try {
      const t0 = performance.now();
      const attempts = [
        impatient.db.insertInto('api_keys').values(apiKeyRow('a')).execute(),
        impatient.db.transaction().execute((trx) => trx.insertInto('api_keys').values(apiKeyRow('b')).execute()),
        impatient.db.deleteFrom('api_keys').execute(),
      ].map((p) =>
        p.then(
          () => ({ code: 'none', ms: performance.now() - t0 }),
          (e: { code?: string }) => ({ code: e.code, ms: performance.now() - t0 }),
        ),
      );
      for (const { code, ms } of await Promise.all(attempts)) {
        expect(code).toBe('SQLITE_BUSY');
        expect(ms).toBeGreaterThanOrEqual(290);
        // Three budgets one after another would be 900 ms.
        expect(ms).toBeLessThan(600);
      }
    } finally {
      other.prepare('rollback').run();
      other.close();
      await impatient.close();
    }
  });
});

describe('StatementCache', () => {
  let dir: string;
  let sqlite: SqliteDatabase;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'postier-stmts-'));
    sqlite = new SQLite(path.join(dir, 'db.sqlite'));
  });
  afterEach(() => {
    sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reuses a statement per SQL text and drops the oldest past its size', () => {
    const cache = new StatementCache(sqlite, 3);
    const first = cache.get('select 1');
    expect(cache.get('select 1')).toBe(first);
    const second = cache.get('select 2');
    cache.get('select 3');
    cache.get('select 4'); // 'select 1' goes
    expect(cache.get('select 2')).toBe(second);
    expect(cache.get('select 1')).not.toBe(first);
  });

  it('gives a statement still iterating (a stream) a fresh copy instead', () => {
    const cache = new StatementCache(sqlite, 10);
    const text = 'select value from json_each(?)';
    const rows = cache.get(text).iterate('[1,2,3]') as IterableIterator<{ value: number }>;
    expect(rows.next().value).toEqual({ value: 1 });
    expect(cache.get(text).all('[7]')).toEqual([{ value: 7 }]);
    expect([...rows].map((r) => r.value)).toEqual([2, 3]);
  });
});
