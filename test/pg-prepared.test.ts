import { rmSync } from 'node:fs';
import { type Kysely, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { apiKeyRow } from './helpers/rows.js';
import { openDatabase } from '../src/platform/db/database.js';
import { PREPARED_READ, reusedQuery } from '../src/platform/db/reused-sql.js';
import { migrateToLatest } from '../src/platform/db/migrate.js';
import { createTestContext, freshStorage } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';

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
      // A read by key through reused-sql.ts, twice.
      for (const id of ['a', 'b']) {
        const [row] = await reusedQuery(trx, 'api key by id (test)', [id], () =>
          trx.selectFrom('api_keys').select('id').where('id', '=', id),
        );
        expect(row).toEqual({ id });
      }
      const { rows } = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(trx);
      return { read: read.map((r) => r.id), prepared: rows.map((r) => r.statement) };
    });
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!process.env.TEST_DATABASE_URL)('prepared statements on PostgreSQL', () => {
  it('prepares each write and each read by key once per connection, and no other read', async () => {
    const { read, prepared } = await preparedAfterWrites(true);
    expect(read).toEqual(['a', 'b']);
    const inserts = prepared.filter((s) => s.startsWith('insert into "api_keys"'));
    // Two inserts of the same text: one prepared statement, executed twice; the same for the read by key.
    expect(inserts).toHaveLength(1);
    expect(prepared.filter((s) => s.startsWith(PREPARED_READ))).toEqual([
      `${PREPARED_READ}select "id" from "api_keys" where "id" = $1`,
    ]);
    // The ad hoc read (and pg_prepared_statements' own) are not prepared.
    expect(prepared.filter((s) => /^\s*select\b/i.test(s))).toEqual([]);
  });

  it('prepares nothing with DATABASE_PREPARED_STATEMENTS=false (PgBouncer before 1.21)', async () => {
    const { read, prepared } = await preparedAfterWrites(false);
    expect(read).toEqual(['a', 'b']);
    expect(prepared).toEqual([]);
  });

  it('prepares a statement afresh after a migration changed the rows it returns: at once outside a transaction, at the retry inside one', async () => {
    const { dir, databaseUrl, schema } = await freshStorage('postgres');
    const database = openDatabase(databaseUrl, { schema, poolSize: 1 });
    const db = database.db;
    try {
      await sql`create table probe (a integer)`.execute(db);
      const insert = (q: typeof db = db) =>
        sql<Record<string, unknown>>`insert into probe (a) values (1) returning *`.execute(q);
      // A table of the test's own: Kysely's types do not know it.
      const read = (q: typeof db = db) =>
        reusedQuery(q, 'probe rows (test)', [1], () =>
          (q as unknown as Kysely<{ probe: { a: number } }>).selectFrom('probe').selectAll().where('a', '=', 1),
        );
      expect((await insert()).rows).toEqual([{ a: 1 }]);
      expect(await read()).toEqual([{ a: 1 }]);
      // Another process migrates: the prepared statements' rows change shape.
      await sql`alter table probe add column b integer default 7`.execute(db);
      // Outside a transaction, each is prepared anew and run at once.
      expect((await insert()).rows).toEqual([{ a: 1, b: 7 }]);
      expect(await read()).toEqual([
        { a: 1, b: 7 },
        { a: 1, b: 7 },
      ]);
      await sql`alter table probe add column c integer default 8`.execute(db);
      // Inside one, the transaction fails (PostgreSQL aborted it) and nothing of it is kept.
      await expect(
        db.transaction().execute(async (trx) => {
          await sql`insert into probe (a) values (2)`.execute(trx);
          return read(trx);
        }),
      ).rejects.toThrow('cached plan must not change result type');
      // The caller's retry runs the statement prepared anew.
      const again = await db.transaction().execute((trx) => read(trx));
      expect(again).toEqual([
        { a: 1, b: 7, c: 8 },
        { a: 1, b: 7, c: 8 },
      ]);
      const { rows } = await sql<{ n: string }>`select count(*) as n from probe where a = 2`.execute(db);
      expect(Number(rows[0]!.n)).toBe(0);
    } finally {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("answers a send that met a statement prepared before another process's migration 503, and the retry 201", async () => {
    // One connection: the statement met is the one the first send prepared.
    const t = await createTestContext('postgres', { DATABASE_POOL_SIZE: '1' });
    try {
      const send = () => t.inject({ method: 'POST', url: '/api/v1/email/send', payload: incidentExample() });
      const stored = async () =>
        (await sql<{ n: number }>`select count(*)::int as n from email_messages`.execute(t.services.db)).rows[0]!.n;
      expect((await send()).statusCode).toBe(201);
      const first = await stored();
      await sql`alter table email_templates add column added_by_a_newer_version integer`.execute(t.services.db);
      const met = await send();
      expect(met.statusCode, met.body).toBe(503);
      expect(met.json()).toMatchObject({ error: { code: 'unavailable' } });
      expect(met.headers['retry-after']).toBe('5');
      // Nothing of the refused send was stored; the retry stores it.
      expect(await stored()).toBe(first);
      expect((await send()).statusCode).toBe(201);
      expect(await stored()).toBe(2 * first);
    } finally {
      await t.close();
    }
  });
});
