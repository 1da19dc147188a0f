import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { readTemplatesDir } from './definition.js';
import { DEFAULT_TEMPLATES_DIR } from './paths.js';
import { insertTemplate } from './store.js';

/**
 * Inserts the repository's default templates whose key does not exist yet. An existing key is
 * never touched, even if deactivated: admins own templates after the first migration.
 */
export async function seedDefaultTemplates(db: Kysely<DB>, dir = DEFAULT_TEMPLATES_DIR): Promise<string[]> {
  const defs = readTemplatesDir(dir);
  const existing = new Set((await db.selectFrom('email_templates').select('key').execute()).map((r) => r.key));
  const missing = defs.filter((d) => !existing.has(d.key));
  if (missing.length === 0) return [];
  const now = Date.now();
  await db.transaction().execute(async (trx) => {
    for (const def of missing) await insertTemplate(trx, def, 'system', now);
  });
  return missing.map((d) => d.key);
}
