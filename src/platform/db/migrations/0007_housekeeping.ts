import type { Kysely } from 'kysely';

/**
 * Housekeeping deletes remembered SNS message ids and finished webhook deliveries by age:
 * these indexes make each hourly pass a seek, not a scan of every row ever received.
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('sns_messages_received').on('sns_messages').columns(['received_at']).execute();
  await db.schema
    .createIndex('webhook_deliveries_completed')
    .on('webhook_deliveries')
    .columns(['completed_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('webhook_deliveries_completed').ifExists().execute();
  await db.schema.dropIndex('sns_messages_received').ifExists().execute();
}
