import type { Kysely } from 'kysely';
import { reusedQuery } from '../platform/db/reused-sql.js';
import type { DB } from '../platform/db/schema.js';

/**
 * Bytes per row of content_blob_parts. A value bound to a statement is copied on its way into the
 * database: twice by SQLite (a 10 MB value cost 20 MB of memory more, measured; a 1 MiB part 2),
 * into pg's growing message buffer by pg.
 */
export const PART_BYTES = 1024 * 1024;

/**
 * Stores one content (its row, then its parts) unless a committed row has it already; returns
 * whether this call stored it. Run it inside a transaction: the row and its parts go together.
 */
export async function insertBlob(trx: Kysely<DB>, sha256: string, data: Uint8Array, now: number): Promise<boolean> {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // The same two statements for every content: their SQL is built once (reused-sql.ts).
  const inserted = await reusedQuery(trx, 'content_blobs:insert', [sha256, bytes.length, 'identity', now], () =>
    trx
      .insertInto('content_blobs')
      .values({ sha256, size_bytes: bytes.length, encoding: 'identity', created_at: now })
      .onConflict((oc) => oc.column('sha256').doNothing())
      .returning('sha256'),
  );
  if (inserted.length === 0) return false;
  // One row per part, even for empty content: a blob always has a part 0.
  for (let at = 0, part = 0; part === 0 || at < bytes.length; at += PART_BYTES, part++) {
    const chunk = bytes.subarray(at, at + PART_BYTES);
    await reusedQuery(trx, 'content_blob_parts:insert', [sha256, part, chunk], () =>
      trx.insertInto('content_blob_parts').values({ sha256, part, data: chunk }),
    );
  }
  return true;
}
