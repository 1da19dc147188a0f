import { type Kysely, Migrator } from 'kysely';
import { migrations } from './migrations/index.js';
import type { DB } from './schema.js';

/** Applies pending migrations; safe to run from several processes at once (Kysely takes a lock). */
export async function migrateToLatest(db: Kysely<DB>, schema?: string): Promise<string[]> {
  // With a non-default schema, Kysely must be told: its table check looks across all schemas.
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
