import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/platform/db/database.js';
import { migrateToLatest } from '../src/platform/db/migrate.js';
import { migrations } from '../src/platform/db/migrations/index.js';

const base = process.env.TEST_DATABASE_URL;

/**
 * A PostgreSQL database where another schema already holds Kysely's migration tables (another
 * application, a benchmark's kept archive): Postier migrates its own schema all the same.
 */
describe.skipIf(!base)('migrations on PostgreSQL next to another schema', () => {
  const name = `postier_migschema_${process.pid}`;
  const url = () => {
    const u = new URL(base!);
    u.pathname = `/${name}`;
    return u.toString();
  };
  const admin = () => new pg.Client({ connectionString: base });
  beforeAll(async () => {
    const c = admin();
    await c.connect();
    await c.query(`drop database if exists ${name}`);
    await c.query(`create database ${name}`);
    await c.end();
    const other = new pg.Client({ connectionString: url() });
    await other.connect();
    await other.query(`create schema other;
      create table other.kysely_migration (name varchar(255) primary key, timestamp varchar(255) not null);
      create table other.kysely_migration_lock (id varchar(255) primary key, is_locked integer not null default 0);
      insert into other.kysely_migration_lock values ('migration_lock', 0);`);
    await other.end();
  });
  afterAll(async () => {
    const c = admin();
    await c.connect();
    await c.query(`drop database if exists ${name} with (force)`);
    await c.end();
  });

  it("migrates the current schema, its lookups never seeing the other schema's tables", async () => {
    const database = openDatabase(url());
    try {
      // Kysely's own introspector read every schema: its Migrator found the other schema's tables
      // and failed ("relation kysely_migration_lock does not exist"). Postier's reads its own.
      const seen = await database.db.introspection.getTables({ withInternalKyselyTables: true });
      expect(seen.filter((t) => t.schema === 'other')).toEqual([]);
      const applied = await migrateToLatest(database.db, undefined, 'postgres');
      expect(applied).toEqual(Object.keys(migrations));
      // Idempotent: nothing left to apply.
      expect(await migrateToLatest(database.db, undefined, 'postgres')).toEqual([]);
      const c = new pg.Client({ connectionString: url() });
      await c.connect();
      const { rows } = await c.query(
        `select table_schema from information_schema.tables where table_name in ('email_messages', 'kysely_migration') order by 1`,
      );
      await c.end();
      expect(rows.map((r: { table_schema: string }) => r.table_schema)).toEqual(['other', 'public', 'public']);
    } finally {
      await database.close();
    }
  });
});
