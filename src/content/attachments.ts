import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';

export interface AttachmentWithData {
  id: string;
  filename: string;
  content_type: string;
  size_bytes: number;
  sha256: string;
  /** NULL once anonymization or erasure dropped the bytes. */
  data: Buffer | null;
}

/**
 * A message's attachments with their bytes, in id order: the parts of the content they
 * reference, or the row's own bytes when an older version of Postier wrote them there (during
 * an upgrade). `attachmentId` narrows to one.
 */
export async function attachmentsWithData(
  db: Kysely<DB>,
  messageId: string,
  attachmentId?: string,
): Promise<AttachmentWithData[]> {
  let q = db
    .selectFrom('email_attachments as a')
    .leftJoin('content_blob_parts as p', 'p.sha256', 'a.blob_sha256')
    .select([
      'a.id',
      'a.filename',
      'a.content_type',
      'a.size_bytes',
      'a.sha256',
      'a.data as row_data',
      'p.data as part',
    ])
    .where('a.message_id', '=', messageId);
  if (attachmentId !== undefined) q = q.where('a.id', '=', attachmentId);
  const rows = await q.orderBy('a.id').orderBy('p.part').execute();
  const out: AttachmentWithData[] = [];
  let parts: Buffer[] = [];
  rows.forEach((r, i) => {
    if (r.part) parts.push(r.part);
    if (rows[i + 1]?.id === r.id) return;
    const data = parts.length === 0 ? r.row_data : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    out.push({
      id: r.id,
      filename: r.filename,
      content_type: r.content_type,
      size_bytes: r.size_bytes,
      sha256: r.sha256,
      data,
    });
    parts = [];
  });
  return out;
}
