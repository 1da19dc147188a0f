import { type Kysely, sql } from 'kysely';

/**
 * What the scheduled state needs stored:
 * - email_messages.send_at: the time a scheduled message was held until (null: sent at once), so
 *   the queue's age counts from when a message became due, not from when it was accepted;
 * - an index of the scheduled messages by due time, so promoting the due ones to `queued` reads
 *   only those (a partial index: the other statuses never enter it).
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('email_messages').addColumn('send_at', 'bigint').execute();
  await db.schema
    .createIndex('email_messages_scheduled_due')
    .on('email_messages')
    .column('next_attempt_at')
    .where(sql.ref('status'), '=', sql.lit('scheduled'))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('email_messages_scheduled_due').ifExists().execute();
  await db.schema.alterTable('email_messages').dropColumn('send_at').execute();
}
