import { type Kysely, sql } from 'kysely';

/**
 * The submission spool: a message submitted over SMTP is stored here, raw, in the commit that
 * precedes its `250`, and becomes its messages (one per envelope recipient, ids already given
 * in the reply) a moment later, off the listener's event loop (accept/submission/spool.ts). A
 * row is leased while it is turned into messages and deleted in the same transaction as their
 * insert, so a crash leaves it spooled, never half archived.
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const pg = sql`${0}`.compile(db).sql === '$1';
  await db.schema
    .createTable('submission_spool')
    .addColumn('id', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addColumn('api_key_id', 'text')
    .addColumn('envelope_from', 'text', (c) => c.notNull())
    // JSON arrays, in the same order: the envelope recipients and the message id each gets.
    .addColumn('recipients', 'text', (c) => c.notNull())
    .addColumn('message_ids', 'text', (c) => c.notNull())
    .addColumn('smtp_message_id', 'text', (c) => c.notNull())
    // The From field's address, as read (and allowed) before the 250.
    .addColumn('from_email', 'text', (c) => c.notNull())
    // The X-Postier-* options read at accept time (JSON), and when to send.
    .addColumn('options', 'text')
    .addColumn('send_at', 'bigint', (c) => c.notNull())
    .addColumn('raw', pg ? 'bytea' : 'blob', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('last_error', 'text')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('submission_spool').execute();
}
