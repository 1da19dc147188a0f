import type { Kysely } from 'kysely';
import type { AddressObject, ParsedMail, SimpleParserOptions } from 'mailparser';
import type { DB } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { iso } from '../platform/time.js';

/** mailparser, loaded when the capture inbox is first used: a deployment with a relay never is. */
async function parseMail(raw: Buffer, options?: SimpleParserOptions): Promise<ParsedMail> {
  const { simpleParser } = await import('mailparser');
  return simpleParser(raw, options);
}

const addressText = (a: AddressObject | AddressObject[] | undefined): string =>
  a === undefined ? '' : (Array.isArray(a) ? a : [a]).map((x) => x.text).join(', ');

/** Stores one received mail; the list fields are parsed once here, the body on demand. */
export async function storeCapturedMail(
  db: Kysely<DB>,
  raw: Buffer,
  envelope: { from: string; to: string[] },
  now = Date.now(),
): Promise<string> {
  const parsed = await parseMail(raw, {
    skipHtmlToText: true,
    skipTextToHtml: true,
    skipImageLinks: true,
    skipTextLinks: true,
  });
  const id = newId();
  await db
    .insertInto('captured_mail')
    .values({
      id,
      received_at: now,
      mail_from: envelope.from,
      rcpt_to: JSON.stringify(envelope.to),
      from_header: addressText(parsed.from),
      to_header: addressText(parsed.to),
      subject: parsed.subject ?? '',
      date: parsed.date ? parsed.date.getTime() : null,
      message_id: parsed.messageId ?? null,
      size: raw.length,
      raw,
    })
    .execute();
  return id;
}

const encodeCursor = (id: string) => Buffer.from(id).toString('base64url');
function decodeCursor(c: string): string {
  const id = Buffer.from(c, 'base64url').toString();
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new AppError('invalid_request', 'Invalid cursor');
  return id;
}

/** Newest first, keyset-paginated on the time-ordered id. */
export async function listCapturedMail(db: Kysely<DB>, limit: number, cursor?: string) {
  let q = db
    .selectFrom('captured_mail')
    .select(['id', 'received_at', 'mail_from', 'rcpt_to', 'from_header', 'to_header', 'subject', 'date', 'size']);
  if (cursor) q = q.where('id', '<', decodeCursor(cursor));
  const rows = await q
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const total = await db
    .selectFrom('captured_mail')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const page = rows.slice(0, limit);
  return {
    items: page.map((r) => ({
      id: r.id,
      from: r.from_header || r.mail_from,
      to: JSON.parse(r.rcpt_to) as string[],
      subject: r.subject,
      date: iso(r.date ?? r.received_at),
      received_at: iso(r.received_at),
      size: r.size,
    })),
    total: Number(total.n),
    next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null,
  };
}

export async function rawCapturedMail(db: Kysely<DB>, id: string) {
  const row = await db.selectFrom('captured_mail').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new AppError('not_found', `No captured mail ${id}`);
  return row;
}

/** The parsed mail, as mailparser sees it: what a mail client would show. */
export async function parsedCapturedMail(db: Kysely<DB>, id: string) {
  const row = await rawCapturedMail(db, id);
  const p = await parseMail(row.raw);
  return {
    id: row.id,
    received_at: iso(row.received_at),
    envelope: { from: row.mail_from, to: JSON.parse(row.rcpt_to) as string[] },
    size: row.size,
    message_id: p.messageId ?? null,
    date: p.date ? p.date.toISOString() : null,
    from: addressText(p.from),
    to: addressText(p.to),
    cc: addressText(p.cc),
    reply_to: addressText(p.replyTo),
    subject: p.subject ?? '',
    headers: p.headerLines.map((h) => ({ name: h.key, line: h.line })),
    text: p.text ?? null,
    html: typeof p.html === 'string' ? p.html : null,
    attachments: p.attachments.map((a, index) => ({
      index,
      filename: a.filename ?? null,
      content_type: a.contentType,
      size: a.size,
      content_id: a.contentId ?? null,
    })),
  };
}

export async function capturedAttachment(db: Kysely<DB>, id: string, index: number) {
  const row = await rawCapturedMail(db, id);
  const a = (await parseMail(row.raw)).attachments[index];
  if (!a) throw new AppError('attachment_not_found', `Captured mail ${id} has no attachment ${index}`);
  return { filename: a.filename ?? `attachment-${index}`, contentType: a.contentType, content: a.content };
}

export async function clearCapturedMail(db: Kysely<DB>): Promise<number> {
  const r = await db.deleteFrom('captured_mail').executeTakeFirst();
  return Number(r.numDeletedRows);
}
