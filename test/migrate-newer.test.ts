import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../src/platform/db/migrate.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';

/** An older Postier started against a database a newer one migrated: refused at start, saying why. */
describe.each(backends)('migrations from a newer version on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  it('refuses to start, naming the migrations this version does not know, and leaves the database as it is', async () => {
    const table = sql.table(t.schema ? `${t.schema}.kysely_migration` : 'kysely_migration');
    const count = async () =>
      Number((await sql<{ n: number }>`select count(*) as n from ${table}`.execute(t.services.db)).rows[0]!.n);
    // Up to date: nothing to apply, no complaint.
    expect(await migrateToLatest(t.services.db, t.schema, backend)).toEqual([]);
    const before = await count();
    await sql`insert into ${table} (name, timestamp) values (${'9999_from_the_future'}, ${new Date().toISOString()})`.execute(
      t.services.db,
    );
    await expect(migrateToLatest(t.services.db, t.schema, backend)).rejects.toThrow(
      /migrated by a newer version of Postier \(9999_from_the_future is unknown to this one\)/,
    );
    expect(await count()).toBe(before + 1);
    await sql`delete from ${table} where name = ${'9999_from_the_future'}`.execute(t.services.db);
    expect(await migrateToLatest(t.services.db, t.schema, backend)).toEqual([]);
  });
});
