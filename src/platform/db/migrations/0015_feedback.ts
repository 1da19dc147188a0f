import { type Kysely, sql } from 'kysely';

/**
 * Feedback from any relay (issue #18):
 * - feedback_reports: each report received by mail (the inbound SMTP listener, an IMAP mailbox),
 *   stored raw before it is classified (state `pending`), then its classification, the message
 *   it was matched to and how. `dedupe_key` (the SHA-256 of the bytes) makes a report that
 *   arrives twice one row. A lease lets several workers classify without taking one report twice.
 * - feedback_events: one row per applied feedback event (any source: SES, providers, reports),
 *   unique by the source's own dedupe id, so a retried webhook applies once; its recipient and
 *   kind serve the soft-bounce count (SOFT_BOUNCE_LIMIT in SOFT_BOUNCE_DAYS).
 * - feedback_replay_tokens: one-time tokens of signed webhooks (Mailgun), remembered until they
 *   could no longer pass the timestamp check.
 * - email_messages.bounce_category: why the message bounced (unknown_user, mailbox_full, ...).
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const pg = sql`${0}`.compile(db).sql === '$1';
  await db.schema
    .createTable('feedback_reports')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    // smtp, imap (the channel it came by).
    .addColumn('source', 'varchar(30)', (c) => c.notNull())
    .addColumn('envelope_from', 'text')
    .addColumn('envelope_to', 'text')
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('raw', pg ? 'bytea' : 'blob', (c) => c.notNull())
    .addColumn('dedupe_key', 'varchar(100)', (c) => c.notNull().unique())
    .addColumn('state', 'varchar(20)', (c) => c.notNull().check(sql`state in ('pending', 'classified', 'failed')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('classified_at', 'bigint')
    .addColumn('kind', 'varchar(30)')
    .addColumn('category', 'varchar(30)')
    .addColumn('recipient', 'varchar(320)')
    .addColumn('status_code', 'varchar(20)')
    .addColumn('diagnostic', 'text')
    .addColumn('reason', 'varchar(100)')
    .addColumn('classification', 'text')
    .addColumn('message_id', 'text')
    .addColumn('match_method', 'varchar(20)')
    .addColumn('suppressed', 'text')
    .addColumn('error', 'text')
    .execute();
  await db.schema
    .createIndex('feedback_reports_pending')
    .on('feedback_reports')
    .columns(['state', 'received_at'])
    .execute();
  await db.schema.createIndex('feedback_reports_message').on('feedback_reports').column('message_id').execute();
  await db.schema.createIndex('feedback_reports_recipient').on('feedback_reports').column('recipient').execute();
  await db.schema.createIndex('feedback_reports_received').on('feedback_reports').column('received_at').execute();

  await db.schema
    .createTable('feedback_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('dedupe_id', 'varchar(500)', (c) => c.notNull().unique())
    .addColumn('source', 'varchar(30)', (c) => c.notNull())
    .addColumn('kind', 'varchar(30)', (c) => c.notNull())
    .addColumn('recipient', 'varchar(320)')
    .addColumn('category', 'varchar(30)')
    .addColumn('final', 'integer', (c) => c.notNull())
    .addColumn('message_id', 'text')
    .addColumn('report_id', 'text')
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('feedback_events_recipient')
    .on('feedback_events')
    .columns(['recipient', 'kind', 'at'])
    .execute();
  await db.schema.createIndex('feedback_events_created').on('feedback_events').column('created_at').execute();

  await db.schema
    .createTable('feedback_replay_tokens')
    .addColumn('token', 'varchar(600)', (c) => c.primaryKey())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema.alterTable('email_messages').addColumn('bounce_category', 'varchar(30)').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('email_messages').dropColumn('bounce_category').execute();
  await db.schema.dropTable('feedback_replay_tokens').ifExists().execute();
  await db.schema.dropTable('feedback_events').ifExists().execute();
  await db.schema.dropTable('feedback_reports').ifExists().execute();
}
