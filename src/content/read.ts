import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';

/** One content's bytes (its parts in order), or null when no blob has this hash (collected, never stored). */
export async function readContent(db: Kysely<DB>, sha256: string): Promise<Buffer | null> {
  const parts = await db
    .selectFrom('content_blob_parts')
    .select('data')
    .where('sha256', '=', sha256)
    .orderBy('part')
    .execute();
  if (parts.length === 0) return null;
  return parts.length === 1 ? parts[0]!.data : Buffer.concat(parts.map((p) => p.data));
}
