import type { Kysely } from 'kysely';

/**
 * Retention: when a message was anonymized (bodies dropped, addresses hashed), and one lock row
 * per periodic job so that, with several workers, one runs each job at a time.
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('email_messages').addColumn('anonymized_at', 'bigint').execute();
  // Anonymization walks "not yet anonymized, older than the cut-off": this index makes that a seek,
  // not a scan over months of already anonymized rows.
  await db.schema
    .createIndex('email_messages_anonymize')
    .on('email_messages')
    .columns(['anonymized_at', 'created_at'])
    .execute();

  await db.schema
    .createTable('job_locks')
    .addColumn('name', 'varchar(100)', (c) => c.primaryKey())
    .addColumn('owner', 'text')
    .addColumn('expires_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('last_started_at', 'bigint')
    .addColumn('last_finished_at', 'bigint')
    .addColumn('last_result', 'text')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('job_locks').ifExists().execute();
  await db.schema.dropIndex('email_messages_anonymize').ifExists().execute();
  await db.schema.alterTable('email_messages').dropColumn('anonymized_at').execute();
}
