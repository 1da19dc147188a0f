import { type Kysely, sql } from 'kysely';

// Frozen in time: no imports from the application, only Kysely<any>.

export async function up(db: Kysely<any>): Promise<void> {
  // Which database, through Kysely's public API: PostgreSQL numbers its parameters ($1), SQLite does not (?).
  const pg = sql`${0}`.compile(db).sql === '$1';
  const blob = pg ? 'bytea' : 'blob';

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull().check(sql`scope in ('admin', 'send')`))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('token_prefix', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .execute();

  await db.schema
    .createTable('email_templates')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('key', 'varchar(100)', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('category', 'varchar(50)', (c) => c.notNull())
    .addColumn('class', 'varchar(50)', (c) => c.notNull().defaultTo('transactional'))
    // Lower is more urgent: the worker leases by (priority, next_attempt_at).
    .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(5))
    .addColumn('max_attempts', 'integer', (c) => c.notNull().defaultTo(3))
    // The active version: what a send renders unless it pins another.
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('is_active', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_by', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // A version is immutable once written: edits insert version N+1.
  await db.schema
    .createTable('email_template_versions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('template_key', 'varchar(100)', (c) => c.notNull().references('email_templates.key').onDelete('cascade'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('default_locale', 'varchar(20)', (c) => c.notNull())
    .addColumn('layout', 'varchar(100)')
    .addColumn('attachments_allowed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('required_variables', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('optional_variables', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('sensitive_variables', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('sample_variables', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('comment', 'text')
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('email_template_versions_key_version', ['template_key', 'version'])
    .execute();

  await db.schema
    .createTable('email_template_contents')
    .addColumn('template_key', 'varchar(100)', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('locale', 'varchar(20)', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('html_content', 'text', (c) => c.notNull())
    .addColumn('text_content', 'text')
    .addPrimaryKeyConstraint('email_template_contents_pk', ['template_key', 'version', 'locale'])
    .addForeignKeyConstraint(
      'email_template_contents_version_fk',
      ['template_key', 'version'],
      'email_template_versions',
      ['template_key', 'version'],
      (fk) => fk.onDelete('cascade'),
    )
    .execute();

  await db.schema
    .createTable('email_messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('template_key', 'varchar(100)', (c) => c.notNull())
    .addColumn('template_version', 'integer', (c) => c.notNull())
    .addColumn('locale', 'varchar(20)', (c) => c.notNull())
    .addColumn('category', 'varchar(50)', (c) => c.notNull())
    .addColumn('class', 'varchar(50)', (c) => c.notNull())
    .addColumn('source_endpoint', 'varchar(100)', (c) => c.notNull())
    .addColumn('recipient_email', 'varchar(320)', (c) => c.notNull())
    .addColumn('cc', 'text')
    .addColumn('bcc', 'text')
    .addColumn('reply_to', 'varchar(320)')
    // Extra MIME headers decided at accept time (List-Unsubscribe, …), as a JSON object.
    .addColumn('headers', 'text')
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('html_content', 'text')
    .addColumn('text_content', 'text')
    .addColumn('attachments_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status', 'varchar(20)', (c) =>
      c
        .notNull()
        .check(
          sql`status in ('queued','sending','sent','delivered','bounced','complaint','failed','suppressed','rate_limited','cancelled')`,
        ),
    )
    .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(5))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_at', 'bigint')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('smtp_message_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('provider_message_id', 'varchar(255)')
    .addColumn('smtp_response', 'text')
    // Encrypted (AES-256-GCM) clear content when the template has sensitive variables;
    // erased once the message is sent or has failed for good.
    .addColumn('sealed_content', blob)
    .addColumn('sent_at', 'bigint')
    .addColumn('delivered_at', 'bigint')
    .addColumn('bounce_type', 'varchar(20)')
    .addColumn('bounce_subtype', 'varchar(50)')
    .addColumn('error_message', 'text')
    .addColumn('is_test', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('resent_from_id', 'text')
    .addColumn('api_key_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  // The outbox: due rows of a status, most urgent first.
  await db.schema
    .createIndex('email_messages_due')
    .on('email_messages')
    .columns(['status', 'priority', 'next_attempt_at'])
    .execute();
  await db.schema
    .createIndex('email_messages_lease')
    .on('email_messages')
    .columns(['status', 'lease_expires_at'])
    .execute();
  await db.schema
    .createIndex('email_messages_recipient')
    .on('email_messages')
    .columns(['recipient_email', 'id'])
    .execute();
  await db.schema.createIndex('email_messages_template').on('email_messages').columns(['template_key', 'id']).execute();
  await db.schema.createIndex('email_messages_created').on('email_messages').columns(['created_at']).execute();
  await db.schema
    .createIndex('email_messages_provider_id')
    .on('email_messages')
    .columns(['provider_message_id'])
    .execute();
  await db.schema.createIndex('email_messages_smtp_id').on('email_messages').columns(['smtp_message_id']).execute();

  await db.schema
    .createTable('email_attachments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) => c.notNull().references('email_messages.id').onDelete('cascade'))
    .addColumn('filename', 'varchar(255)', (c) => c.notNull())
    .addColumn('content_type', 'varchar(100)', (c) => c.notNull())
    .addColumn('size_bytes', 'integer', (c) => c.notNull())
    .addColumn('sha256', 'varchar(64)', (c) => c.notNull())
    .addColumn('data', blob)
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('email_attachments_message').on('email_attachments').columns(['message_id']).execute();

  await db.schema
    .createTable('email_events')
    .addColumn('id', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('message_id', 'text', (c) => c.notNull().references('email_messages.id').onDelete('cascade'))
    .addColumn('type', 'varchar(40)', (c) => c.notNull())
    .addColumn('data', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('email_events_message').on('email_events').columns(['message_id', 'id']).execute();
  await db.schema.createIndex('email_events_type_time').on('email_events').columns(['type', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'email_events',
    'email_attachments',
    'email_messages',
    'email_template_contents',
    'email_template_versions',
    'email_templates',
    'api_keys',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
