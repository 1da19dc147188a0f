import { type Kysely, Migrator, sql } from 'kysely';
import type { Dialect } from './database.js';
import { migrations } from './migrations/index.js';
import type { DB } from './schema.js';

/**
 * Applies pending migrations; safe to run from several processes at once (Kysely takes a lock).
 * On PostgreSQL the migration tables are looked for in the schema Postier uses (`schema`, else
 * the connection's current schema): Kysely's own check looks across every schema, so another
 * schema of the database holding `kysely_migration` tables (another application, a benchmark's
 * kept archive) made it skip creating Postier's and then fail ("relation kysely_migration_lock
 * does not exist").
 */
export async function migrateToLatest(db: Kysely<DB>, schema?: string, dialect: Dialect = 'sqlite'): Promise<string[]> {
  const tableSchema =
    schema ??
    (dialect === 'postgres'
      ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s
      : undefined);
  const applied = await appliedMigrations(db, tableSchema);
  const newer = applied.filter((n) => !(n in migrations)).sort();
  if (newer.length > 0)
    throw new Error(
      `This database was migrated by a newer version of Postier (${newer.join(', ')} ${newer.length === 1 ? 'is' : 'are'} ` +
        'unknown to this one): run that version or a later one against it, not this one (docs/operations.md#upgrades)',
    );
  // Up to date (every start after the first, every CLI command): nothing for Kysely's Migrator to
  // do, which would still introspect the schema twice and take its lock to find that out.
  const done = new Set(applied);
  if (Object.keys(migrations).every((n) => done.has(n))) return [];
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    ...(tableSchema ? { migrationTableSchema: tableSchema } : {}),
  });
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    if (!error) return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    if (dialect === 'postgres' && attempt < 4 && isCatalogRace(error)) {
      await new Promise((r) => setTimeout(r, 100 * attempt));
      continue;
    }
    throw error instanceof Error ? error : new Error(String(error));
  }
}

/**
 * Kysely's Migrator looks for its tables by reading the columns of every table of every schema
 * (its introspector). DDL running meanwhile in another schema of the same database (another
 * application's migration, another Postier schema being created or dropped) can make that read
 * fail with "column … of relation … does not exist" or "cache lookup failed": nothing is wrong
 * with our schema, and the same read a moment later succeeds. On PostgreSQL the migrations run
 * in one transaction, so a run that failed applied nothing, and trying again is safe; a real
 * error fails the same way each time and is thrown after the fourth try. (Seen when test files
 * migrate their own schemas of one database at once.)
 */
export function isCatalogRace(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    code === '42703' ||
    code === '42P01' ||
    (code === 'XX000' && /cache lookup failed/.test(error instanceof Error ? error.message : ''))
  );
}

/**
 * The migrations the database has applied (none on a database never migrated). Those this version
 * does not have mean a process of an older version started after an upgrade (Kysely would refuse
 * too, with "corrupted migrations").
 */
async function appliedMigrations(db: Kysely<DB>, tableSchema: string | undefined): Promise<string[]> {
  const table = sql.table(tableSchema ? `${tableSchema}.kysely_migration` : 'kysely_migration');
  try {
    return (await sql<{ name: string }>`select name from ${table}`.execute(db)).rows.map((r) => r.name);
  } catch {
    return []; // no migration table yet
  }
}
