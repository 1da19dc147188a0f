import { type Kysely, sql } from 'kysely';

/**
 * Search of the archive (GET /api/v1/email/messages?q=): case-insensitive, partial matches on the
 * recipient, the sender, the subject and the tags, served by an index on both databases.
 *
 * - Both: `(lower(recipient_email), id)` replaces `(recipient_email, id)`, so `?to=` and erasure
 *   match an address whatever its case, newest first, from the index; `(created_at, status)`
 *   replaces `(created_at)`, and the failures get a partial index (the dashboard, below).
 * - SQLite: an FTS5 table with the trigram tokenizer (case-insensitive, any substring of three
 *   characters or more), contentless (the text stays in email_messages only; contentless_delete
 *   lets a row be removed by rowid). Its rowid is the message row's rowid, kept in step by
 *   triggers. VACUUM keeps rowids; a migration that rebuilds email_messages must recreate these
 *   triggers and refill the table (the search also checks each hit against the row itself, so a
 *   stale entry can hide a message, never show a wrong one).
 * - PostgreSQL: pg_trgm GIN indexes over the lowercased columns (LIKE '%…%' uses them). pg_trgm
 *   is a trusted extension: the database owner may create it; it is created once per database,
 *   in the current schema unless it exists already, and referred to by its schema.
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const pg = sql`${0}`.compile(db).sql === '$1';
  await db.schema.dropIndex('email_messages_recipient').execute();
  await sql`create index email_messages_recipient_lower on email_messages (lower(recipient_email), id)`.execute(db);
  // The dashboard (messages/stats.ts) on a large archive: the day-by-status counts read this index
  // alone, and the latest failures are the top of a small index over the failed ones only (a new
  // message is queued: it enters neither index's predicate until it fails).
  await db.schema.dropIndex('email_messages_created').execute();
  await db.schema
    .createIndex('email_messages_created')
    .on('email_messages')
    .columns(['created_at', 'status'])
    .execute();
  await sql`create index email_messages_failures on email_messages (updated_at)
    where status in ('failed', 'partially_sent', 'bounced', 'complaint')`.execute(db);
  if (pg) {
    const schema = await trigramSchema(db);
    const ops = sql.raw(`${quoteIdent(schema)}.gin_trgm_ops`);
    // fastupdate off: GIN's pending list keeps each new row's trigrams uncompressed until a vacuum
    // or a 4 MB overflow (flushed by whichever insert overflows it), and the pages it used stay
    // allocated: 1,060 bytes per message for these two indexes, measured, against 120 without.
    const gin = sql.raw('with (fastupdate = off)');
    await sql`create index email_messages_recipient_trgm on email_messages
      using gin (lower(recipient_email) ${ops}) ${gin}`.execute(db);
    await sql`create index email_messages_subject_trgm on email_messages using gin (lower(subject) ${ops}) ${gin}`.execute(
      db,
    );
    // Most messages go out from the configured sender (NULL here) and carry no tags.
    await sql`create index email_messages_sender_trgm on email_messages using gin (lower(from_email) ${ops}) ${gin}
      where from_email is not null`.execute(db);
    await sql`create index email_messages_tags_trgm on email_messages using gin (lower(tags) ${ops}) ${gin}
      where tags is not null`.execute(db);
    return;
  }
  await sql`create virtual table message_search using fts5(
    recipient, sender, subject, tags, tokenize = 'trigram', content = '', contentless_delete = 1)`.execute(db);
  const values = sql.raw(
    "new.rowid, new.recipient_email, coalesce(new.from_email, ''), new.subject, coalesce(new.tags, '')",
  );
  await sql`create trigger email_messages_search_insert after insert on email_messages begin
    insert into message_search (rowid, recipient, sender, subject, tags) values (${values});
  end`.execute(db);
  await sql`create trigger email_messages_search_update
    after update of recipient_email, from_email, subject, tags on email_messages begin
    delete from message_search where rowid = old.rowid;
    insert into message_search (rowid, recipient, sender, subject, tags) values (${values});
  end`.execute(db);
  await sql`create trigger email_messages_search_delete after delete on email_messages begin
    delete from message_search where rowid = old.rowid;
  end`.execute(db);
  await sql`insert into message_search (rowid, recipient, sender, subject, tags)
    select rowid, recipient_email, coalesce(from_email, ''), subject, coalesce(tags, '') from email_messages`.execute(
    db,
  );
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The schema pg_trgm lives in, creating it (in the current schema) if this database has none. */
async function trigramSchema(db: Kysely<any>): Promise<string> {
  const find = () =>
    sql<{ schema: string }>`select n.nspname as schema from pg_extension e
      join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm'`.execute(db);
  let found = (await find()).rows[0];
  if (!found) {
    await sql`create extension if not exists pg_trgm`.execute(db);
    found = (await find()).rows[0];
  }
  if (!found) throw new Error('PostgreSQL: the pg_trgm extension could not be created (see docs/scaling.md)');
  return found.schema;
}

export async function down(db: Kysely<any>): Promise<void> {
  const pg = sql`${0}`.compile(db).sql === '$1';
  if (pg) {
    for (const name of ['recipient', 'subject', 'sender', 'tags']) {
      await db.schema.dropIndex(`email_messages_${name}_trgm`).execute();
    }
  } else {
    for (const t of ['insert', 'update', 'delete'])
      await sql.raw(`drop trigger email_messages_search_${t}`).execute(db);
    await sql`drop table message_search`.execute(db);
  }
  await db.schema.dropIndex('email_messages_failures').execute();
  await db.schema.dropIndex('email_messages_created').execute();
  await db.schema.createIndex('email_messages_created').on('email_messages').column('created_at').execute();
  await db.schema.dropIndex('email_messages_recipient_lower').execute();
  await db.schema
    .createIndex('email_messages_recipient')
    .on('email_messages')
    .columns(['recipient_email', 'id'])
    .execute();
}
