import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommitQueue } from '../src/db/commit-queue.js';
import { type Database, openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';

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
    q.run((trx) =>
      trx
        .insertInto('api_keys')
        .values({ id: name, name, scope: 'send', token_hash: `h-${name}`, token_prefix: 'p', created_by: null, created_at: 1, last_used_at: null, revoked_at: null })
        .execute(),
    );

  it('commits concurrent units together, and a failing unit rolls back alone', async () => {
    const q = new CommitQueue(database.db, 'sqlite');
    const results = await Promise.allSettled([insertKey(q, 'a'), insertKey(q, 'b'), insertKey(q, 'a' /* duplicate id */), insertKey(q, 'c')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const names = (await database.db.selectFrom('api_keys').select('name').orderBy('name').execute()).map((r) => r.name);
    expect(names).toEqual(['a', 'b', 'c']);
  });

  it('answers nobody before the commit that holds their rows', async () => {
    const q = new CommitQueue(database.db, 'sqlite');
    const seen: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        insertKey(q, `n${i}`).then(async () => {
          // Read through the same connection after the unit resolved: the row is committed.
          const row = await database.db.selectFrom('api_keys').select('id').where('id', '=', `n${i}`).executeTakeFirst();
          if (row) seen.push(i);
        }),
      ),
    );
    expect(seen).toHaveLength(20);
  });
});
