import { type Kysely, sql } from 'kysely';

/**
 * Mail from any application, not only templates (HTTP raw and batch sends, SMTP submission), and
 * two more message states:
 * - email_messages.template_key, template_version and locale may be null (no stored template);
 * - from_email / from_name: the sender of this message (null: the configured SMTP_FROM_*);
 * - tags (JSON array), metadata (JSON object): the caller's labels, searchable and sent back in
 *   webhooks; source: which door the message came in by (api, batch, smtp, resend, test, cli);
 * - raw_sha256: the MIME as an SMTP client submitted it, in content_blobs (delivered from it);
 * - statuses `scheduled` (accepted with a send_at in the future) and `captured` (delivered to the
 *   embedded capture server, never to a recipient);
 * - api_keys.allowed_from: the From addresses or domains a key may use (JSON array; null: any
 *   the installation allows).
 * Frozen in time: no application imports.
 */
const OLD_STATUSES =
  "'queued','sending','sent','partially_sent','delivered','bounced','complaint','failed','suppressed','rate_limited','cancelled'";
const NEW_STATUSES =
  "'scheduled','queued','sending','sent','partially_sent','captured','delivered','bounced','complaint','failed','suppressed','rate_limited','cancelled'";
const NOT_NULL_BEFORE = [
  '"template_key" varchar(100) not null',
  '"template_version" integer not null',
  '"locale" varchar(20) not null',
];
const NULLABLE_AFTER = ['"template_key" varchar(100)', '"template_version" integer', '"locale" varchar(20)'];

export async function up(db: Kysely<any>): Promise<void> {
  const pg = sql`${0}`.compile(db).sql === '$1';
  if (pg) {
    await sql`alter table email_messages alter column template_key drop not null`.execute(db);
    await sql`alter table email_messages alter column template_version drop not null`.execute(db);
    await sql`alter table email_messages alter column locale drop not null`.execute(db);
    await sql`alter table email_messages drop constraint email_messages_status_check`.execute(db);
    await sql
      .raw(`alter table email_messages add constraint email_messages_status_check check (status in (${NEW_STATUSES}))`)
      .execute(db);
  } else {
    await rebuildSqlite(db, (definition) => {
      let out = definition;
      NOT_NULL_BEFORE.forEach((before, i) => {
        if (!out.includes(before)) throw new Error(`email_messages: expected ${before}; not rebuilding`);
        out = out.replace(before, NULLABLE_AFTER[i]!);
      });
      if (!out.includes(OLD_STATUSES)) throw new Error('email_messages: unexpected status constraint; not rebuilding');
      return out.replace(OLD_STATUSES, NEW_STATUSES);
    });
  }
  await db.schema.alterTable('email_messages').addColumn('from_email', 'varchar(320)').execute();
  await db.schema.alterTable('email_messages').addColumn('from_name', 'text').execute();
  await db.schema.alterTable('email_messages').addColumn('tags', 'text').execute();
  await db.schema.alterTable('email_messages').addColumn('metadata', 'text').execute();
  await db.schema
    .alterTable('email_messages')
    .addColumn('source', 'varchar(20)', (c) => c.notNull().defaultTo('api'))
    .execute();
  await db.schema
    .alterTable('email_messages')
    .addColumn('raw_sha256', 'varchar(64)', (c) => c.references('content_blobs.sha256'))
    .execute();
  // Blob collection asks whether anything still refers to a content: served by an index.
  await db.schema
    .createIndex('email_messages_raw')
    .on('email_messages')
    .column('raw_sha256')
    .where(sql.ref('raw_sha256'), 'is not', null)
    .execute();
  await db.schema.alterTable('api_keys').addColumn('allowed_from', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  const pg = sql`${0}`.compile(db).sql === '$1';
  await db.schema.alterTable('api_keys').dropColumn('allowed_from').execute();
  await db.schema.dropIndex('email_messages_raw').ifExists().execute();
  // Messages that only the new version could hold cannot go back: they take the nearest old state.
  await db.updateTable('email_messages').set({ status: 'queued' }).where('status', '=', 'scheduled').execute();
  await db.updateTable('email_messages').set({ status: 'sent' }).where('status', '=', 'captured').execute();
  await db
    .updateTable('email_messages')
    .set({ template_key: '', template_version: 0 })
    .where('template_key', 'is', null)
    .execute();
  await db.updateTable('email_messages').set({ locale: '' }).where('locale', 'is', null).execute();
  if (pg) {
    for (const c of ['raw_sha256', 'source', 'metadata', 'tags', 'from_name', 'from_email']) {
      await db.schema.alterTable('email_messages').dropColumn(c).execute();
    }
    await sql`alter table email_messages drop constraint email_messages_status_check`.execute(db);
    await sql
      .raw(`alter table email_messages add constraint email_messages_status_check check (status in (${OLD_STATUSES}))`)
      .execute(db);
    await sql`alter table email_messages alter column template_key set not null`.execute(db);
    await sql`alter table email_messages alter column template_version set not null`.execute(db);
    await sql`alter table email_messages alter column locale set not null`.execute(db);
    return;
  }
  // SQLite cannot drop a column that holds a foreign key: the rebuild leaves the added ones out
  // (they are the last ones of the definition, added by up()).
  await rebuildSqlite(db, (definition) => {
    const at = definition.indexOf(', "from_email"');
    if (at === -1) throw new Error('email_messages: expected the columns of 0012; not rebuilding');
    let out = `${definition.slice(0, at)})`.replace(NEW_STATUSES, OLD_STATUSES);
    NULLABLE_AFTER.forEach((after, i) => {
      out = out.replace(`${after},`, `${NOT_NULL_BEFORE[i]!},`);
    });
    return out;
  });
}

/**
 * SQLite cannot alter a column or a constraint: the table is rebuilt as its manual describes
 * ("Making Other Kinds Of Table Schema Changes"), as migration 0009 does: foreign keys off (else
 * dropping the old table would cascade to events and attachments), a copy under the new
 * definition, the old table dropped, the copy renamed, the indexes recreated, foreign keys
 * checked, all in one transaction.
 */
async function rebuildSqlite(db: Kysely<any>, redefine: (definition: string) => string): Promise<void> {
  await sql`pragma foreign_keys = off`.execute(db);
  const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(db);
  if (Number(fk.rows[0]?.foreign_keys) !== 0)
    throw new Error('could not turn foreign keys off to rebuild email_messages');
  try {
    await db.transaction().execute(async (trx) => {
      const table = await sql<{
        sql: string;
      }>`select sql from sqlite_master where type = 'table' and name = 'email_messages'`.execute(trx);
      const definition = table.rows[0]?.sql ?? '';
      const indexes = await sql<{ sql: string }>`
        select sql from sqlite_master where type = 'index' and tbl_name = 'email_messages' and sql is not null`.execute(
        trx,
      );
      const rebuilt = redefine(definition).replace(
        /^create table\s+("?)email_messages\1/i,
        'create table "email_messages_rebuilt"',
      );
      await sql.raw(rebuilt).execute(trx);
      // Copied by name: the rebuilt table may have fewer columns (down).
      const columns = await sql<{ name: string }>`select name from pragma_table_info('email_messages_rebuilt')`.execute(
        trx,
      );
      const list = columns.rows.map((c) => `"${c.name}"`).join(', ');
      await sql.raw(`insert into email_messages_rebuilt (${list}) select ${list} from email_messages`).execute(trx);
      await sql`drop table email_messages`.execute(trx);
      await sql`alter table email_messages_rebuilt rename to email_messages`.execute(trx);
      for (const i of indexes.rows) await sql.raw(i.sql).execute(trx);
      const broken = await sql`pragma foreign_key_check`.execute(trx);
      if (broken.rows.length > 0)
        throw new Error(
          `foreign key check failed after rebuilding email_messages: ${JSON.stringify(broken.rows.slice(0, 3))}`,
        );
    });
  } finally {
    await sql`pragma foreign_keys = on`.execute(db);
  }
}
