import { type Kysely, sql } from 'kysely';

// Frozen in time: no imports from the application, only Kysely<any>.

/** Mail received by the embedded capture SMTP server (used when SMTP_HOST is unset). */
export async function up(db: Kysely<any>): Promise<void> {
  // Which database, through Kysely's public API: PostgreSQL numbers its parameters ($1), SQLite does not (?).
  const pg = sql`${0}`.compile(db).sql === '$1';
  await db.schema
    .createTable('captured_mail')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    // Envelope (MAIL FROM / RCPT TO): bcc recipients appear only here.
    .addColumn('mail_from', 'text', (c) => c.notNull())
    .addColumn('rcpt_to', 'text', (c) => c.notNull())
    // From the headers, for the list view.
    .addColumn('from_header', 'text', (c) => c.notNull())
    .addColumn('to_header', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('date', 'bigint')
    .addColumn('message_id', 'text')
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('raw', pg ? 'bytea' : 'blob', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('captured_mail_message_id').on('captured_mail').columns(['message_id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('captured_mail').ifExists().execute();
}
