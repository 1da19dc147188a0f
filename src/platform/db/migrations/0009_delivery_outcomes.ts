import { type Kysely, sql } from 'kysely';

/**
 * Per-recipient delivery outcomes and the relay's health:
 * - email_messages.recipient_status: JSON map address → state, for messages with more than one
 *   envelope recipient; relay_problem_since: when a run of relay problems began;
 * - status `partially_sent` (some recipients accepted, the others refused or given up);
 * - relay_status: one row per transport, written by workers when its health changes.
 * Frozen in time: no application imports.
 */
const OLD_STATUSES =
  "'queued','sending','sent','delivered','bounced','complaint','failed','suppressed','rate_limited','cancelled'";
const NEW_STATUSES =
  "'queued','sending','sent','partially_sent','delivered','bounced','complaint','failed','suppressed','rate_limited','cancelled'";

export async function up(db: Kysely<any>): Promise<void> {
  const pg = sql`${0}`.compile(db).sql === '$1';
  await db.schema.alterTable('email_messages').addColumn('recipient_status', 'text').execute();
  await db.schema.alterTable('email_messages').addColumn('relay_problem_since', 'bigint').execute();
  await setStatuses(db, pg, OLD_STATUSES, NEW_STATUSES);

  await db.schema
    .createTable('relay_status')
    .addColumn('name', 'varchar(100)', (c) => c.primaryKey())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('state', 'varchar(20)', (c) => c.notNull())
    .addColumn('since', 'bigint', (c) => c.notNull())
    .addColumn('problem_kind', 'varchar(40)')
    .addColumn('last_problem', 'text')
    .addColumn('last_problem_at', 'bigint')
    .addColumn('last_ok_at', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  const pg = sql`${0}`.compile(db).sql === '$1';
  await db.schema.dropTable('relay_status').ifExists().execute();
  await db.updateTable('email_messages').set({ status: 'sent' }).where('status', '=', 'partially_sent').execute();
  await setStatuses(db, pg, NEW_STATUSES, OLD_STATUSES);
  await db.schema.alterTable('email_messages').dropColumn('relay_problem_since').execute();
  await db.schema.alterTable('email_messages').dropColumn('recipient_status').execute();
}

/**
 * Replaces the status CHECK constraint. PostgreSQL alters it in place. SQLite cannot alter a
 * constraint: the table is rebuilt as its manual describes ("Making Other Kinds Of Table Schema
 * Changes"): foreign keys off (else dropping the old table would cascade to events and
 * attachments), a copy under the new definition, the old table dropped, the copy renamed, the
 * indexes recreated, foreign keys checked, all in one transaction.
 */
async function setStatuses(db: Kysely<any>, pg: boolean, from: string, to: string): Promise<void> {
  if (pg) {
    await sql`alter table email_messages drop constraint email_messages_status_check`.execute(db);
    await sql
      .raw(`alter table email_messages add constraint email_messages_status_check check (status in (${to}))`)
      .execute(db);
    return;
  }
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
      if (!definition.includes(from)) throw new Error('email_messages: unexpected status constraint; not rebuilding');
      const indexes = await sql<{ sql: string }>`
        select sql from sqlite_master where type = 'index' and tbl_name = 'email_messages' and sql is not null`.execute(
        trx,
      );
      const renamed = definition
        .replace(/^create table\s+("?)email_messages\1/i, 'create table "email_messages_rebuilt"')
        .replace(from, to);
      await sql.raw(renamed).execute(trx);
      await sql`insert into email_messages_rebuilt select * from email_messages`.execute(trx);
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
