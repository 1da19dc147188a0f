import type { MigrationResultSet, Migrator } from 'kysely';
import { isCatalogRace } from '../../src/platform/db/migrate.js';

/**
 * A test's own Migrator run to `target`, tried again as migrateToLatest does when another test
 * file's DDL in its own schema broke Kysely's read of the catalog (src/platform/db/migrate.ts):
 * test files migrate up and down their schemas of one database at once.
 */
export async function migrateTo(migrator: Migrator, target: string | 'latest'): Promise<MigrationResultSet> {
  for (let attempt = 1; ; attempt++) {
    const result = target === 'latest' ? await migrator.migrateToLatest() : await migrator.migrateTo(target);
    if (!result.error || attempt >= 4 || !isCatalogRace(result.error)) return result;
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
}
