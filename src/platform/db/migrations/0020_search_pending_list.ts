import { type Kysely, sql } from 'kysely';

/**
 * PostgreSQL: the pg_trgm GIN indexes of migration 0018 get a small pending list
 * (`fastupdate = on`, `gin_pending_list_limit = 256` kB) instead of none.
 *
 * Every state change of a message (leased, sent, failed, …) updates its row, and a row whose
 * indexed columns change cannot be updated in place (HOT): each index gets a new entry for it,
 * the trigram indexes too, though the recipient and subject did not change. Without a pending
 * list each such entry is some twenty trigrams inserted one by one into the GIN tree. Measured
 * end to end (bench, 3,000 messages, one `postier serve`): the completion UPDATE took 0.85 ms
 * per message in the server and the lease 7.3 ms per batch; with the pending list 0.23 ms and
 * 2.1 ms (without the indexes at all, 0.17 ms and 1.6 ms), and delivered/s rose by about a sixth.
 * 0018 left fastupdate off because the default 4 MB pending list kept its pages allocated (1,060
 * bytes per message in a 5,000-message database); 256 kB bounds that to a few pages per index.
 * A search reads the pending list whole (at most 256 kB) besides the tree.
 * SQLite: nothing (its search index is an FTS5 table, written on insert only).
 * Frozen in time: no application imports.
 */
const INDEXES = [
  'email_messages_recipient_trgm',
  'email_messages_subject_trgm',
  'email_messages_sender_trgm',
  'email_messages_tags_trgm',
];

export async function up(db: Kysely<any>): Promise<void> {
  if (sql`${0}`.compile(db).sql !== '$1') return;
  for (const index of INDEXES) {
    await sql`alter index ${sql.ref(index)} set (fastupdate = on, gin_pending_list_limit = 256)`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  if (sql`${0}`.compile(db).sql !== '$1') return;
  for (const index of INDEXES) {
    await sql`alter index ${sql.ref(index)} set (fastupdate = off)`.execute(db);
    await sql`alter index ${sql.ref(index)} reset (gin_pending_list_limit)`.execute(db);
  }
}
