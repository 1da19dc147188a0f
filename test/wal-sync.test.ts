import { mkdtempSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CompiledQuery } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyRow } from './helpers/rows.js';
import { CommitQueue } from '../src/platform/db/commit-queue.js';
import { type Database, openDatabase } from '../src/platform/db/database.js';
import { migrateToLatest } from '../src/platform/db/migrate.js';
import { WalSync } from '../src/platform/db/wal-sync.js';

/** An fsync that the test lets finish, recording the order of things. */
function gatedFsync(log: string[]) {
  const gates: Array<() => void> = [];
  const fsync = async (h: FileHandle) => {
    const n = gates.length + 1;
    log.push(`fsync ${n} start`);
    await new Promise<void>((r) => gates.push(r));
    await h.sync();
    log.push(`fsync ${n} end`);
  };
  const release = async (n: number) => {
    while (gates.length < n) await new Promise((r) => setTimeout(r, 1));
    gates[n - 1]!();
  };
  return { fsync, release };
}

describe('durable commits on SQLite: the WAL fsynced off the event loop', () => {
  let dir: string;
  let database: Database;
  let log: string[];
  let gate: ReturnType<typeof gatedFsync>;
  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'postier-wal-'));
    log = [];
    gate = gatedFsync(log);
    database = openDatabase(`sqlite:${path.join(dir, 'db.sqlite')}`, { walFsync: (h) => gate.fsync(h) });
    // Migrations commit too: let their fsyncs through.
    const migrating = migrateToLatest(database.db);
    let done = false;
    void migrating.finally(() => (done = true));
    for (let n = 1; !done; n++) await Promise.race([gate.release(n), migrating]);
    await migrating;
    log.length = 0;
    gate = gatedFsync(log); // numbered from 1 again
  });
  afterEach(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const fsyncs = () => log.filter((l) => l.endsWith('start')).length;

  it('answers a group commit only after the fsync that follows it, sharing one fsync among its units', async () => {
    const q = new CommitQueue(database.db, 'sqlite');
    const units = ['a', 'b', 'c'].map((n) =>
      q.run((trx) => trx.insertInto('api_keys').values(apiKeyRow(n)).execute()).then(() => log.push(`answered ${n}`)),
    );
    await gate.release(fsyncs() + 1);
    await Promise.all(units);
    expect(log).toEqual(['fsync 1 start', 'fsync 1 end', 'answered a', 'answered b', 'answered c']);
    // Committed before the fsync: readable meanwhile by the same connection, durable when answered.
    expect((await database.db.selectFrom('api_keys').select('id').execute()).map((r) => r.id).sort()).toEqual([
      'a',
      'b',
      'c',
    ]);
  });

  it('holds a batch that comes while an fsync runs until it ends, then commits everything that came meanwhile at once', async () => {
    const q = new CommitQueue(database.db, 'sqlite', { syncing: database.walSyncing });
    const unit = (n: string) =>
      q.run(async (trx) => {
        log.push(`run ${n}`);
        await trx.insertInto('api_keys').values(apiKeyRow(n)).execute();
      });
    const a = unit('a').then(() => log.push('answered a'));
    await new Promise((r) => setTimeout(r, 10)); // a committed, fsync 1 running
    expect(log).toEqual(['run a', 'fsync 1 start']);
    // Two more, in two event-loop turns: each would have been its own commit.
    const b = unit('b').then(() => log.push('answered b'));
    await new Promise((r) => setTimeout(r, 5));
    const c = unit('c').then(() => log.push('answered c'));
    await new Promise((r) => setTimeout(r, 5));
    expect(log).toEqual(['run a', 'fsync 1 start']);
    expect((await database.db.selectFrom('api_keys').select('id').execute()).map((r) => r.id)).toEqual(['a']);
    await gate.release(1);
    await a;
    await gate.release(2);
    await Promise.all([b, c]);
    // b and c ran in one transaction after fsync 1, and fsync 2 made both durable.
    expect(log).toEqual([
      'run a',
      'fsync 1 start',
      'fsync 1 end',
      'answered a',
      'run b',
      'run c',
      'fsync 2 start',
      'fsync 2 end',
      'answered b',
      'answered c',
    ]);
  });

  it('makes a write outside a transaction wait for its fsync, never a read', async () => {
    const write = database.db
      .insertInto('api_keys')
      .values(apiKeyRow('solo'))
      .execute()
      .then(() => log.push('write done'));
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toEqual(['fsync 1 start']);
    const read = await database.db.selectFrom('api_keys').select('id').execute();
    expect(read.map((r) => r.id)).toEqual(['solo']);
    await gate.release(1);
    await write;
    expect(log).toEqual(['fsync 1 start', 'fsync 1 end', 'write done']);
  });

  it('runs SQLite with synchronous=NORMAL (the fsync is its own), only on a file', async () => {
    const pragma = CompiledQuery.raw('pragma synchronous');
    // Reading a pragma writes nothing (SQLite says the statement is read-only): no fsync to wait for.
    const sync = await database.db.executeQuery<{ synchronous: number }>(pragma);
    expect(sync.rows[0]!.synchronous).toBe(1);
    expect(fsyncs()).toBe(0);
    const memory = openDatabase('sqlite::memory:');
    const memorySync = await memory.db.executeQuery<{ synchronous: number }>(pragma);
    expect(memorySync.rows[0]!.synchronous).toBe(2);
    await memory.close();
  });
});

describe('WalSync', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'postier-walsync-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('lets a commit made while an fsync runs wait for the next one; one fsync serves every commit before it', async () => {
    const file = path.join(dir, 'x-wal');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, 'frames'));
    const log: string[] = [];
    const gate = gatedFsync(log);
    const wal = new WalSync(file, gate.fsync);
    const first = wal.afterCommit().then(() => log.push('first'));
    await new Promise((r) => setTimeout(r, 10)); // fsync 1 is running
    const second = wal.afterCommit().then(() => log.push('second'));
    const third = wal.afterCommit().then(() => log.push('third'));
    await gate.release(1);
    await first;
    await gate.release(2);
    await Promise.all([second, third]);
    const at = (entry: string) => log.indexOf(entry);
    expect(log).toHaveLength(7); // two fsyncs for three commits
    expect(at('fsync 1 end')).toBeLessThan(at('first'));
    // The second and third came while fsync 1 ran: it may have started before their frames were written.
    expect(at('fsync 1 end')).toBeLessThan(at('fsync 2 start'));
    expect(at('fsync 2 end')).toBeLessThan(at('second'));
    expect(at('fsync 2 end')).toBeLessThan(at('third'));
    await wal.close();
  });

  it('fails the commits an fsync could not make durable; the next fsync is tried anew', async () => {
    const file = path.join(dir, 'y-wal');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, 'frames'));
    let fail = true;
    const wal = new WalSync(file, async (h) => {
      if (fail) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      await h.sync();
    });
    await expect(Promise.all([wal.afterCommit(), wal.afterCommit()])).rejects.toMatchObject({ code: 'EIO' });
    fail = false;
    await expect(wal.afterCommit()).resolves.toBeUndefined();
    await wal.close();
  });
});
