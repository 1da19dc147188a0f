import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import SQLite from '../src/platform/db/better-sqlite3.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyRow } from './helpers/rows.js';
import { CommitQueue } from '../src/platform/db/commit-queue.js';
import { type Database, openDatabase } from '../src/platform/db/database.js';
import { migrateToLatest } from '../src/platform/db/migrate.js';

describe('group commit on SQLite', () => {
  let dir: string;
  let database: Database;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'postier-cq-'));
    database = openDatabase(`sqlite:${path.join(dir, 'db.sqlite')}`);
    await migrateToLatest(database.db);
  });
  afterAll(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const insertKey = (q: CommitQueue, name: string) =>
    q.run((trx) => trx.insertInto('api_keys').values(apiKeyRow(name)).execute());

  it('commits concurrent units together, and a failing unit rolls back alone', async () => {
    const q = new CommitQueue(database.db, 'sqlite');
    const results = await Promise.allSettled([
      insertKey(q, 'a'),
      insertKey(q, 'b'),
      insertKey(q, 'a' /* duplicate id */),
      insertKey(q, 'c'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const names = (await database.db.selectFrom('api_keys').select('name').orderBy('name').execute()).map(
      (r) => r.name,
    );
    expect(names).toEqual(['a', 'b', 'c']);
  });

  it('runs each unit once when all succeed, and again isolated when one throws after writing', async () => {
    const q = new CommitQueue(database.db, 'sqlite');
    const runs = new Map<string, number>();
    const unit = (name: string, fail = false) =>
      q.run(async (trx) => {
        runs.set(name, (runs.get(name) ?? 0) + 1);
        await trx.insertInto('api_keys').values(apiKeyRow(name)).execute();
        if (fail) throw new Error(`${name} refused after its insert`);
        return name;
      });
    expect(await Promise.all([unit('ok1'), unit('ok2'), unit('ok3')])).toEqual(['ok1', 'ok2', 'ok3']);
    expect([...runs.values()]).toEqual([1, 1, 1]);

    runs.clear();
    const results = await Promise.allSettled([unit('x1'), unit('bad', true), unit('x2')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('bad refused after its insert');
    // The first run stopped at the failure and was rolled back whole; the second put each unit
    // in its own savepoint.
    expect(Object.fromEntries(runs)).toEqual({ x1: 2, bad: 2, x2: 1 });
    const stored = await database.db
      .selectFrom('api_keys')
      .select('id')
      .where('id', 'in', ['x1', 'bad', 'x2'])
      .orderBy('id')
      .execute();
    expect(stored.map((r) => r.id)).toEqual(['x1', 'x2']);

    // Alone in its batch: rolled back, its error returned, nothing stored.
    await expect(unit('alone', true)).rejects.toThrow('alone refused after its insert');
    expect(await database.db.selectFrom('api_keys').select('id').where('id', '=', 'alone').execute()).toEqual([]);
  });

  it('answers nobody before the commit that holds their rows', async () => {
    const q = new CommitQueue(database.db, 'sqlite');
    const seen: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        insertKey(q, `n${i}`).then(async () => {
          // Read through the same connection after the unit resolved: the row is committed.
          const row = await database.db
            .selectFrom('api_keys')
            .select('id')
            .where('id', '=', `n${i}`)
            .executeTakeFirst();
          if (row) seen.push(i);
        }),
      ),
    );
    expect(seen).toHaveLength(20);
  });

  it("waits for another connection's write lock without blocking the event loop, then writes", async () => {
    const other = new SQLite(path.join(dir, 'db.sqlite'));
    other.prepare('begin immediate').run();
    const q = new CommitQueue(database.db, 'sqlite');
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    try {
      const write = insertKey(q, 'after-lock');
      let settled = false;
      void write.finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 150));
      // With busy_timeout SQLite would have slept inside the call, freezing timers meanwhile.
      expect(settled).toBe(false);
      expect(ticks).toBeGreaterThan(10);
      other.prepare('commit').run();
      await write;
    } finally {
      clearInterval(ticker);
      other.close();
    }
    const row = await database.db.selectFrom('api_keys').select('id').where('id', '=', 'after-lock').executeTakeFirst();
    expect(row?.id).toBe('after-lock');
  });

  it('gives up with SQLITE_BUSY once the lock wait runs out, having written nothing', async () => {
    const file = path.join(dir, 'db.sqlite');
    const impatient = openDatabase(`sqlite:${file}`, { lockWaitMs: 100 });
    await insertKey(new CommitQueue(database.db, 'sqlite'), 'kept');
    const other = new SQLite(file);
    other.prepare('begin immediate').run();
    try {
      const q = new CommitQueue(impatient.db, 'sqlite', { lockWaitMs: 100 });
      const t0 = Date.now();
      await expect(insertKey(q, 'never')).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
      // It waited (retrying) for the whole lockWaitMs before giving up, not failed at once.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
      await expect(impatient.db.deleteFrom('api_keys').where('id', '=', 'kept').execute()).rejects.toMatchObject({
        code: 'SQLITE_BUSY',
      });
    } finally {
      other.prepare('rollback').run();
      other.close();
      await impatient.close();
    }
    const ids = (
      await database.db.selectFrom('api_keys').select('id').where('id', 'in', ['never', 'kept']).execute()
    ).map((r) => r.id);
    expect(ids).toEqual(['kept']);
  });
});
