import { rmSync } from 'node:fs';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { apiKeyRow } from './helpers/rows.js';
import { openDatabase } from '../src/platform/db/database.js';
import { migrateToLatest } from '../src/platform/db/migrate.js';
import { freshStorage } from './helpers/context.js';

/** What the connection of a transaction has prepared (pg_prepared_statements is per connection). */
async function preparedAfterWrites(preparedStatements: boolean) {
  const { dir, databaseUrl, schema } = await freshStorage('postgres');
  const database = openDatabase(databaseUrl, { schema, preparedStatements });
  try {
    await migrateToLatest(database.db, schema, 'postgres');
    return await database.db.transaction().execute(async (trx) => {
      for (const name of ['a', 'b']) {
        await trx.insertInto('api_keys').values(apiKeyRow(name)).execute();
      }
      const read = await trx.selectFrom('api_keys').select('id').orderBy('id').execute();
      const { rows } = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(trx);
      return { read: read.map((r) => r.id), prepared: rows.map((r) => r.statement) };
    });
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!process.env.TEST_DATABASE_URL)('prepared statements on PostgreSQL', () => {
  it('prepares each write once per connection, and no read', async () => {
    const { read, prepared } = await preparedAfterWrites(true);
    expect(read).toEqual(['a', 'b']);
    const inserts = prepared.filter((s) => s.startsWith('insert into "api_keys"'));
    // Two inserts of the same text: one prepared statement, executed twice.
    expect(inserts).toHaveLength(1);
    expect(prepared.filter((s) => /^\s*select\b/i.test(s))).toEqual([]);
  });

  it('prepares nothing with DATABASE_PREPARED_STATEMENTS=false (PgBouncer before 1.21)', async () => {
    const { read, prepared } = await preparedAfterWrites(false);
    expect(read).toEqual(['a', 'b']);
    expect(prepared).toEqual([]);
  });

  it('prepares a statement afresh after a migration changed the rows it returns', async () => {
    const { dir, databaseUrl, schema } = await freshStorage('postgres');
    const database = openDatabase(databaseUrl, { schema, poolSize: 1 });
    try {
      await sql`create table probe (a integer)`.execute(database.db);
      const insert = () =>
        sql<Record<string, unknown>>`insert into probe (a) values (1) returning *`.execute(database.db);
      expect((await insert()).rows).toEqual([{ a: 1 }]);
      // Another process migrates: the prepared statement's rows change shape.
      await sql`alter table probe add column b integer default 7`.execute(database.db);
      await expect(insert()).rejects.toThrow('cached plan must not change result type');
      // The caller's retry runs a statement prepared anew.
      expect((await insert()).rows).toEqual([{ a: 1, b: 7 }]);
    } finally {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
