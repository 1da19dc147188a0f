import { type Kysely, sql } from 'kysely';

/**
 * Indexes a message pays for when it is accepted, trimmed to what their queries read:
 * - the SES id and the lease expiry are NULL until the message is sent or leased, and only
 *   looked up by value (`=`, `<`): partial indexes over the non-NULL rows skip two index
 *   inserts per accepted message and one update per lease;
 * - the Message-ID is `<message id@domain>`: a bounce that names it is matched by primary key.
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('email_messages_provider_id').execute();
  await db.schema
    .createIndex('email_messages_provider_id')
    .on('email_messages')
    .column('provider_message_id')
    .where(sql.ref('provider_message_id'), 'is not', null)
    .execute();
  await db.schema.dropIndex('email_messages_lease').execute();
  await db.schema
    .createIndex('email_messages_lease')
    .on('email_messages')
    .columns(['status', 'lease_expires_at'])
    .where(sql.ref('lease_expires_at'), 'is not', null)
    .execute();
  await db.schema.dropIndex('email_messages_smtp_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('email_messages_smtp_id').on('email_messages').column('smtp_message_id').execute();
  await db.schema.dropIndex('email_messages_lease').execute();
  await db.schema
    .createIndex('email_messages_lease')
    .on('email_messages')
    .columns(['status', 'lease_expires_at'])
    .execute();
  await db.schema.dropIndex('email_messages_provider_id').execute();
  await db.schema
    .createIndex('email_messages_provider_id')
    .on('email_messages')
    .column('provider_message_id')
    .execute();
}
