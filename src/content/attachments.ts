import { type Kysely, sql } from 'kysely';
import type { DB } from '../db/schema.js';

/**
 * A message's attachments with their bytes: from the content they reference, or from the row
 * itself when an older version of Postier wrote it there (during an upgrade). `data` is NULL
 * once anonymization or erasure dropped the bytes. `attachmentId` narrows to one.
 */
export function attachmentsWithData(db: Kysely<DB>, messageId: string, attachmentId?: string) {
  let q = db
    .selectFrom('email_attachments as a')
    .leftJoin('content_blobs as b', 'b.sha256', 'a.blob_sha256')
    .select(['a.id', 'a.filename', 'a.content_type', 'a.size_bytes', 'a.sha256', sql<Buffer | null>`coalesce(b.data, a.data)`.as('data')])
    .where('a.message_id', '=', messageId);
  if (attachmentId !== undefined) q = q.where('a.id', '=', attachmentId);
  return q.orderBy('a.id').execute();
}
