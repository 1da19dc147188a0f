import { type Kysely, sql } from 'kysely';

/**
 * Outbound webhooks are enqueued by tailing email_events (src/webhooks/enqueue.ts) instead of in
 * the transaction that records an event. A delivery names the event it announces (`event_id`),
 * unique per endpoint, so a tail that runs twice over the same events enqueues nothing twice.
 * `event_cursors` holds how far a tail has read. The webhooks cursor starts at the end of the
 * log: the deliveries of the events recorded so far were enqueued by the code that recorded them.
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webhook_deliveries').addColumn('event_id', 'bigint').execute();
  // Rows enqueued before this migration have no event_id: NULLs never collide in a unique index.
  await db.schema
    .createIndex('webhook_deliveries_endpoint_event')
    .on('webhook_deliveries')
    .columns(['endpoint_id', 'event_id'])
    .unique()
    .execute();
  await db.schema
    .createTable('event_cursors')
    .addColumn('name', 'varchar(100)', (c) => c.primaryKey())
    .addColumn('position', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await sql`insert into event_cursors (name, position, updated_at) select 'webhooks', coalesce(max(id), 0), ${Date.now()} from email_events`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('event_cursors').ifExists().execute();
  await db.schema.dropIndex('webhook_deliveries_endpoint_event').ifExists().execute();
  await db.schema.alterTable('webhook_deliveries').dropColumn('event_id').execute();
}
