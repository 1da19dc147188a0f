import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { TestContext } from './context.js';

/** A PDF-typed (magic bytes) buffer of `size` pseudo-random, incompressible bytes: different seeds, different contents. */
export function bigPdf(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  b.write('%PDF-1.4\n', 0, 'latin1');
  return b;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export const invoiceWith = (to: string | string[], ...files: Buffer[]) => ({
  to,
  template_key: 'billing_invoice_monthly',
  variables: {
    reseller_name: 'Tech Connect SA',
    month: 'février',
    year: '2026',
    amount_fcfa: '450000',
    link_portal: 'https://admin-rgz.duckdns.org/invoices/latest',
    invoice_number: 'INV-2026-0001',
  },
  attachments: files.map((f, i) => ({
    filename: `invoice_${i}.pdf`,
    content_type: 'application/pdf',
    data_base64: f.toString('base64'),
  })),
});

/** What the database holds of one content: its blob rows, parts, the bytes in them, and the rows referencing it. */
export async function stored(t: TestContext, hash: string) {
  const db = t.services.db;
  const blob = await db
    .selectFrom('content_blobs')
    .select(['size_bytes', 'encoding'])
    .where('sha256', '=', hash)
    .execute();
  const parts = await db
    .selectFrom('content_blob_parts')
    .select([sql<number>`count(*)`.as('n'), sql<number>`coalesce(sum(length(data)), 0)`.as('bytes')])
    .where('sha256', '=', hash)
    .executeTakeFirstOrThrow();
  const refs = await db
    .selectFrom('email_attachments')
    .select(['message_id', 'data'])
    .where('blob_sha256', '=', hash)
    .execute();
  return {
    blobs: blob.length,
    size: blob[0] ? Number(blob[0].size_bytes) : 0,
    parts: Number(parts.n),
    bytes: Number(parts.bytes),
    references: refs.length,
    inlineData: refs.filter((r) => r.data !== null).length,
  };
}

/** Every reference points at a complete blob (its parts add up to its size). */
export async function everyReferenceComplete(t: TestContext): Promise<string[]> {
  const rows = await t.services.db
    .selectFrom('email_attachments as a')
    .leftJoin('content_blobs as b', 'b.sha256', 'a.blob_sha256')
    .select(['a.id', 'a.blob_sha256', 'b.size_bytes'])
    .where('a.blob_sha256', 'is not', null)
    .execute();
  const broken: string[] = [];
  for (const r of rows) {
    const s = await stored(t, r.blob_sha256!);
    if (r.size_bytes === null || s.bytes !== Number(r.size_bytes)) broken.push(r.id);
  }
  return broken;
}
