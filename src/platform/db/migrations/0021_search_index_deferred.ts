import { type Kysely, sql } from 'kysely';

/**
 * SQLite: a new message enters the search index (message_search, migration 0018) after its
 * commit, in batches, instead of inside the transaction that accepts it.
 *
 * FTS5 writes a new segment (and its structure record) for every transaction that inserts into
 * it, and merges those segments later: measured on this machine, 113 µs more per row for a
 * transaction of one message than without the index, 33 µs for 8, 15 µs for 1,000. A SMTP
 * submission commits about one message at a time (each client waits for its 250).
 *
 * - `message_search_pending`: the rowids of messages not yet in message_search. The insert
 *   trigger adds the new row's rowid there (one small append) instead of indexing it.
 * - Searches index whatever is pending before they read message_search, so a search always
 *   sees every message, and a background job indexes it meanwhile (messages/search-index.ts).
 * - The update trigger re-indexes only a message already in the index (a pending one is indexed
 *   with its values of that time); the delete trigger removes it from either place. A rowid
 *   reused after a delete is pending again, so it is indexed once.
 * Messages already indexed stay so: the pending table starts empty.
 * PostgreSQL: nothing (its pg_trgm indexes are written by the row's own insert).
 * Frozen in time: no application imports.
 */
const VALUES = "new.rowid, new.recipient_email, coalesce(new.from_email, ''), new.subject, coalesce(new.tags, '')";

export async function up(db: Kysely<any>): Promise<void> {
  if (sql`${0}`.compile(db).sql === '$1') return;
  await sql`create table message_search_pending (message_rowid integer primary key)`.execute(db);
  for (const t of ['insert', 'update', 'delete']) await sql.raw(`drop trigger email_messages_search_${t}`).execute(db);
  await sql`create trigger email_messages_search_insert after insert on email_messages begin
    insert into message_search_pending (message_rowid) values (new.rowid);
  end`.execute(db);
  await sql`create trigger email_messages_search_update
    after update of recipient_email, from_email, subject, tags on email_messages
    when not exists (select 1 from message_search_pending where message_rowid = old.rowid) begin
    delete from message_search where rowid = old.rowid;
    insert into message_search (rowid, recipient, sender, subject, tags) values (${sql.raw(VALUES)});
  end`.execute(db);
  await sql`create trigger email_messages_search_delete after delete on email_messages begin
    delete from message_search where rowid = old.rowid;
    delete from message_search_pending where message_rowid = old.rowid;
  end`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (sql`${0}`.compile(db).sql === '$1') return;
  await sql`insert into message_search (rowid, recipient, sender, subject, tags)
    select m.rowid, m.recipient_email, coalesce(m.from_email, ''), m.subject, coalesce(m.tags, '')
    from message_search_pending p join email_messages m on m.rowid = p.message_rowid`.execute(db);
  for (const t of ['insert', 'update', 'delete']) await sql.raw(`drop trigger email_messages_search_${t}`).execute(db);
  await sql`drop table message_search_pending`.execute(db);
  await sql`create trigger email_messages_search_insert after insert on email_messages begin
    insert into message_search (rowid, recipient, sender, subject, tags) values (${sql.raw(VALUES)});
  end`.execute(db);
  await sql`create trigger email_messages_search_update
    after update of recipient_email, from_email, subject, tags on email_messages begin
    delete from message_search where rowid = old.rowid;
    insert into message_search (rowid, recipient, sender, subject, tags) values (${sql.raw(VALUES)});
  end`.execute(db);
  await sql`create trigger email_messages_search_delete after delete on email_messages begin
    delete from message_search where rowid = old.rowid;
  end`.execute(db);
}
