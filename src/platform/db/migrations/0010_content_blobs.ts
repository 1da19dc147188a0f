import { createHash } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';

/**
 * Content stored once: `content_blobs` has one row per distinct content (an attachment sent to 50
 * recipients, or sent again next month), keyed by its SHA-256; its bytes are in
 * `content_blob_parts`, 1 MiB a row. `email_attachments` keeps one metadata row per message and
 * references the content by `blob_sha256`, a foreign key, so a blob still referenced can never
 * be deleted; NULL means the bytes were dropped (anonymization, erasure) while the metadata
 * stays. The bytes already in `email_attachments.data` move into blobs here, a few rows per
 * transaction.
 *
 * Parts, not one value: SQLite copies a bound value twice while inserting it, so a 10 MB row cost
 * 20 MB more memory than its bytes; a 1 MiB part costs 2.
 * `sha256` and `size_bytes` describe the content; its parts hold it in `encoding` ('identity').
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const pg = sql`${0}`.compile(db).sql === '$1';
  await db.schema
    .createTable('content_blobs')
    .addColumn('sha256', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('encoding', 'varchar(20)', (c) => c.notNull().defaultTo('identity'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('content_blob_parts')
    .addColumn('sha256', 'varchar(64)', (c) => c.notNull().references('content_blobs.sha256').onDelete('cascade'))
    .addColumn('part', 'integer', (c) => c.notNull())
    .addColumn('data', pg ? 'bytea' : 'blob', (c) => c.notNull())
    .addPrimaryKeyConstraint('content_blob_parts_pk', ['sha256', 'part'])
    .execute();
  await db.schema
    .alterTable('email_attachments')
    .addColumn('blob_sha256', 'varchar(64)', (c) => c.references('content_blobs.sha256'))
    .execute();
  // "Is this blob still referenced?" (the collector, and the foreign key's own check on delete).
  await db.schema.createIndex('email_attachments_blob').on('email_attachments').column('blob_sha256').execute();
  await moveBytesToBlobs(db);
}

/** Rows are read one at a time (an attachment may be 100 MB); a transaction holds up to ~32 MB of them. */
const BYTES_PER_TRANSACTION = 32 * 1024 * 1024;
const PART_BYTES = 1024 * 1024;

async function moveBytesToBlobs(db: Kysely<any>): Promise<void> {
  // PostgreSQL runs migrations inside one transaction already; SQLite does not (no transactional DDL).
  const inTransaction = <T>(work: (trx: Kysely<any>) => Promise<T>): Promise<T> =>
    db.isTransaction ? work(db) : db.transaction().execute((trx: Transaction<any>) => work(trx));
  let after = '';
  for (;;) {
    const ids = (
      await db
        .selectFrom('email_attachments')
        .select('id')
        .where('data', 'is not', null)
        .where('id', '>', after)
        .orderBy('id')
        .limit(500)
        .execute()
    ).map((r) => r.id as string);
    if (ids.length === 0) return;
    let i = 0;
    while (i < ids.length) {
      i = await inTransaction(async (trx) => {
        let bytes = 0;
        let j = i;
        for (; j < ids.length && bytes < BYTES_PER_TRANSACTION; j++) {
          const row = await trx
            .selectFrom('email_attachments')
            .select(['data', 'created_at'])
            .where('id', '=', ids[j])
            .executeTakeFirst();
          if (!row?.data) continue;
          const data = row.data as Buffer;
          const sha256 = createHash('sha256').update(data).digest('hex');
          const inserted = await trx
            .insertInto('content_blobs')
            .values({ sha256, size_bytes: data.length, encoding: 'identity', created_at: Number(row.created_at) })
            .onConflict((oc) => oc.column('sha256').doNothing())
            .returning('sha256')
            .executeTakeFirst();
          for (let at = 0, part = 0; inserted && (part === 0 || at < data.length); at += PART_BYTES, part++) {
            await trx
              .insertInto('content_blob_parts')
              .values({ sha256, part, data: data.subarray(at, at + PART_BYTES) })
              .execute();
          }
          await trx
            .updateTable('email_attachments')
            .set({ blob_sha256: sha256, data: null })
            .where('id', '=', ids[j])
            .execute();
          bytes += data.length;
        }
        return j;
      });
    }
    after = ids[ids.length - 1]!;
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  const pg = sql`${0}`.compile(db).sql === '$1';
  let after = '';
  for (;;) {
    const rows = await db
      .selectFrom('email_attachments')
      .select(['id', 'blob_sha256'])
      .where('blob_sha256', 'is not', null)
      .where('id', '>', after)
      .orderBy('id')
      .limit(100)
      .execute();
    if (rows.length === 0) break;
    for (const r of rows) {
      const parts = await db
        .selectFrom('content_blob_parts')
        .select('data')
        .where('sha256', '=', r.blob_sha256)
        .orderBy('part')
        .execute();
      await db
        .updateTable('email_attachments')
        .set({ data: Buffer.concat(parts.map((p) => p.data as Buffer)), blob_sha256: null })
        .where('id', '=', r.id)
        .execute();
    }
    after = rows[rows.length - 1]!.id as string;
  }
  await db.schema.dropIndex('email_attachments_blob').ifExists().execute();
  // SQLite cannot drop a column that is part of a foreign key: there it stays, always NULL.
  if (pg) await db.schema.alterTable('email_attachments').dropColumn('blob_sha256').execute();
  await db.schema.dropTable('content_blob_parts').execute();
  await db.schema.dropTable('content_blobs').execute();
}
