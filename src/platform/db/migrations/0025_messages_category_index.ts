import type { Kysely } from 'kysely';

/**
 * The archive list filtered by a category (`GET /api/v1/email/messages?category=`, `q=category:`)
 * had no index to read: on SQLite a category few messages have read every row of email_messages
 * (1.8 s on 2,000,000 messages, the event loop blocked meanwhile); on PostgreSQL it ran into the
 * list's time limit. `(category, id)` lists a category's messages newest first (ids are
 * time-ordered), as `(template_key, id)` does a template's: a page stops after its rows, a cursor
 * or a date range (bounded on the id too) starts inside it, and the capped count reads the index
 * alone. Every category is a real value (the column is NOT NULL), so the index is whole, not
 * partial. Each accepted message adds one entry, at the newest end of its category.
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('email_messages_category').on('email_messages').columns(['category', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('email_messages_category').ifExists().execute();
}
