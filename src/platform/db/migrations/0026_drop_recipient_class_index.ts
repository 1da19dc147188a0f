import type { Kysely } from 'kysely';

/**
 * `(recipient_email, class, created_at)` served the rate limits' count of a mailbox's recent
 * messages of a class (0004). Since the count matches every spelling of the mailbox, it reads
 * `lower(recipient_email)` (the index `email_messages_recipient_lower`, 0018), and no query reads
 * the column as typed: the index was only written. Each accepted message added an entry at a
 * random place of it (its leading column is the address): about 110 bytes a message on
 * PostgreSQL (what it cost accept was below what the benchmark machine could resolve, see
 * docs/benchmarks.md). Dropping an index unlinks its files: no table is rewritten, whatever the
 * archive's size.
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('email_messages_recipient_class').ifExists().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('email_messages_recipient_class')
    .on('email_messages')
    .columns(['recipient_email', 'class', 'created_at'])
    .execute();
}
