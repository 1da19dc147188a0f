import { type Kysely, sql } from 'kysely';

// Frozen in time: no imports from the application, only Kysely<any>.
// Sending policy: suppression list, idempotency keys, processed SNS messages, outbound webhooks.

export async function up(db: Kysely<any>): Promise<void> {
  // Which database, through Kysely's public API: PostgreSQL numbers its parameters ($1), SQLite does not (?).
  const pg = sql`${0}`.compile(db).sql === '$1';

  // One row per (address, scope): scope 'all' (bounce, complaint, manual) or a class name
  // (an unsubscribe from 'marketing' leaves transactional mail flowing). Addresses lowercased.
  await db.schema
    .createTable('email_suppressions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'varchar(320)', (c) => c.notNull())
    .addColumn('scope', 'varchar(50)', (c) => c.notNull())
    .addColumn('reason', 'varchar(30)', (c) => c.notNull())
    .addColumn('source', 'varchar(30)', (c) => c.notNull())
    .addColumn('source_event', 'text')
    .addColumn('message_id', 'text')
    .addColumn('details', 'text')
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('email_suppressions_email_scope', ['email', 'scope'])
    .execute();
  await db.schema.createIndex('email_suppressions_created').on('email_suppressions').columns(['created_at']).execute();

  // The key row is inserted first in the accepting transaction: the primary key is the lock
  // that makes two concurrent requests with one key create one set of messages.
  await db.schema
    .createTable('idempotency_keys')
    .addColumn('scope', 'varchar(100)', (c) => c.notNull())
    .addColumn('key', 'varchar(255)', (c) => c.notNull())
    .addColumn('request_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('status_code', 'integer', (c) => c.notNull())
    .addColumn('response_body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['scope', 'key'])
    .execute();
  await db.schema.createIndex('idempotency_keys_expires').on('idempotency_keys').columns(['expires_at']).execute();

  // SNS delivers at least once: its MessageId is remembered so each is applied once.
  await db.schema
    .createTable('sns_messages')
    .addColumn('message_id', 'varchar(100)', (c) => c.primaryKey())
    .addColumn('type', 'varchar(40)', (c) => c.notNull())
    .addColumn('topic_arn', 'text', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('webhook_endpoints')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    // JSON array of event types (sent, delivered, bounced, complaint, failed).
    .addColumn('event_types', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('is_active', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // A delivery is one event for one endpoint; the dispatcher leases due ones by next_attempt_at.
  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('endpoint_id', 'text', (c) => c.notNull().references('webhook_endpoints.id').onDelete('cascade'))
    .addColumn('message_id', 'text')
    .addColumn('event_type', 'varchar(40)', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint')
    .addColumn('last_status_code', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('completed_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_due')
    .on('webhook_deliveries')
    .columns(['status', 'next_attempt_at'])
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_endpoint')
    .on('webhook_deliveries')
    .columns(['endpoint_id', 'id'])
    .execute();

  await db.schema
    .createTable('webhook_attempts')
    .addColumn('id', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('delivery_id', 'text', (c) => c.notNull().references('webhook_deliveries.id').onDelete('cascade'))
    .addColumn('attempted_at', 'bigint', (c) => c.notNull())
    .addColumn('status_code', 'integer')
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('error', 'text')
    .execute();
  await db.schema
    .createIndex('webhook_attempts_delivery')
    .on('webhook_attempts')
    .columns(['delivery_id', 'id'])
    .execute();

  // Rate limits count a recipient's recent messages of a class.
  await db.schema
    .createIndex('email_messages_recipient_class')
    .on('email_messages')
    .columns(['recipient_email', 'class', 'created_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('email_messages_recipient_class').ifExists().execute();
  for (const t of [
    'webhook_attempts',
    'webhook_deliveries',
    'webhook_endpoints',
    'sns_messages',
    'idempotency_keys',
    'email_suppressions',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
