import type { Kysely } from 'kysely';

/**
 * The last DNS check of each sending domain (domains/): what was found for DKIM, SPF, DMARC and,
 * for the bounce domain, MX, as JSON, and whether the domain passed. One row per domain,
 * replaced at each check; the admin API and UI read it, so every process sees the same result.
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('domain_checks')
    .addColumn('domain', 'varchar(253)', (c) => c.primaryKey())
    .addColumn('verified', 'integer', (c) => c.notNull())
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('checked_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('domain_checks').execute();
}
