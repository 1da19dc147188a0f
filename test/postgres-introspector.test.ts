import { PostgresIntrospector } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/platform/db/database.js';
import { migrateToLatest } from '../src/platform/db/migrate.js';
import { freshStorage } from './helpers/context.js';

/**
 * The PostgreSQL introspector Kysely's Migrator asks (platform/db/postgres-dialect.ts): Kysely's own
 * answers for Postier's schema, and nothing of the database's other schemas.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('the PostgreSQL introspector', () => {
  let ours: Database;
  let other: Database;
  let schema: string;
  let otherSchema: string;

  beforeAll(async () => {
    const a = await freshStorage('postgres');
    const b = await freshStorage('postgres');
    schema = a.schema!;
    otherSchema = b.schema!;
    ours = openDatabase(a.databaseUrl, { schema });
    other = openDatabase(b.databaseUrl, { schema: otherSchema });
    await migrateToLatest(ours.db, schema, 'postgres');
    // Another schema of the same database, with a table Postier does not have.
    await other.db.schema
      .createTable('someone_elses')
      .addColumn('id', 'serial', (c) => c.primaryKey())
      .execute();
  });
  afterAll(async () => {
    await ours?.close();
    await other?.close();
  });

  it("answers Kysely's own tables and columns for its schema, and no other schema's", async () => {
    for (const withInternalKyselyTables of [false, true]) {
      const mine = await ours.db.introspection.getTables({ withInternalKyselyTables });
      const kysely = (await new PostgresIntrospector(ours.db).getTables({ withInternalKyselyTables })).filter(
        (t) => t.schema === schema,
      );
      expect(mine.length).toBeGreaterThan(20);
      expect(mine).toEqual(kysely);
      expect(mine.some((t) => t.name === 'kysely_migration')).toBe(withInternalKyselyTables);
    }
    const theirs = await other.db.introspection.getTables();
    expect(theirs.map((t) => `${t.schema}.${t.name}`)).toEqual([`${otherSchema}.someone_elses`]);
    expect(theirs[0]!.columns).toEqual([
      expect.objectContaining({ name: 'id', dataType: 'int4', isAutoIncrementing: true, isNullable: false }),
    ]);
    const schemas = (await ours.db.introspection.getSchemas()).map((s) => s.name);
    expect(schemas).toEqual(expect.arrayContaining([schema, otherSchema]));
  });

  it('migrates a new schema, and then finds it up to date', async () => {
    expect(await migrateToLatest(ours.db, schema, 'postgres')).toEqual([]);
    const fresh = await freshStorage('postgres');
    const d = openDatabase(fresh.databaseUrl, { schema: fresh.schema });
    try {
      const applied = await migrateToLatest(d.db, fresh.schema, 'postgres');
      expect(applied.length).toBeGreaterThan(20);
      expect(await migrateToLatest(d.db, fresh.schema, 'postgres')).toEqual([]);
    } finally {
      await d.close();
    }
  });
});
