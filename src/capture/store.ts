import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import { checkLinks } from '../checks/index.js';
import { withBodies } from '../content/index.js';
import type { AddressObject, ParsedMail, SimpleParserOptions } from 'mailparser';
import type { DB } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { iso } from '../platform/time.js';
import { MASK, maskedValues, maskText } from './mask.js';
import { likeContaining } from '../platform/db/like.js';

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

/**
 * `q` found anywhere in the subject, the From and To headers or the envelope's recipients,
 * case-insensitively (ASCII: lower() on both databases); `%`, `_` and `\` are literal.
 */
// biome-ignore lint/suspicious/noExplicitAny: any Kysely query builder over captured_mail with a where() of its own
function matching<Q extends { where: (...args: any[]) => Q }>(q: Q, search: string | undefined): Q {
  const words = (search ?? '').trim().toLowerCase();
  if (!words) return q;
  const like = (column: string) => sql<boolean>`lower(${sql.ref(column)}) like ${likeContaining(words)}`;
  return q.where((eb: ExpressionBuilder<DB, 'captured_mail'>) =>
    eb.or(['subject', 'from_header', 'to_header', 'mail_from', 'rcpt_to'].map((c) => like(c))),
  );
}

/** Newest first, keyset-paginated on the time-ordered id; `q` searches (see matching). */
export async function listCapturedMail(db: Kysely<DB>, limit: number, cursor?: string, search?: string) {
  let q = matching(
    db
      .selectFrom('captured_mail')
      .select(['id', 'received_at', 'mail_from', 'rcpt_to', 'from_header', 'to_header', 'subject', 'date', 'size']),
    search,
  );
  if (cursor) q = q.where('id', '<', decodeCursor(cursor));
  const rows = await q
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const total = await matching(
    db.selectFrom('captured_mail').select((eb) => eb.fn.countAll<number>().as('n')),
    search,
  ).executeTakeFirstOrThrow();
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

/**
 * The archived message a captured mail is, by its Message-ID (ours are <message id@domain>: found
 * by primary key, then checked whole), with what its archive shows in place of sensitive values.
 */
async function archivedOf(db: Kysely<DB>, messageId: string | null | undefined) {
  const id = messageId ? /^<([0-9a-f-]{36})@/i.exec(messageId)?.[1]?.toLowerCase() : undefined;
  if (!id) return null;
  const m = await db
    .selectFrom('email_messages')
    .select(['id', 'subject', 'html_content', 'text_content', 'body_id'])
    .where('id', '=', id)
    .where('smtp_message_id', '=', messageId!)
    .executeTakeFirst();
  if (!m) return null;
  // Bodies live in email_bodies (content/bodies.ts), or still in the row before the move reaches it.
  const [withBody] = await withBodies(db, [m]);
  return withBody ?? null;
}

/** A captured mail and the sensitive values of it that its archived message masks. */
async function readCaptured(db: Kysely<DB>, id: string) {
  const row = await rawCapturedMail(db, id);
  const p = await parseMail(row.raw);
  const archived = await archivedOf(db, p.messageId);
  const html = typeof p.html === 'string' ? p.html : null;
  const secrets = archived
    ? [
        ...maskedValues(archived.subject, p.subject ?? null),
        ...maskedValues(archived.html_content, html),
        ...maskedValues(archived.text_content, p.text ?? null),
      ]
    : [];
  // A mask that could not be aligned still means the mail holds values the archive hides.
  const masked = secrets.length > 0 || [archived?.html_content, archived?.text_content].some((x) => x?.includes(MASK));
  return { row, p, archived, html, secrets, masked };
}

/** Refuses the clear source of a mail with masked values: it is served by neither .eml nor the Source view. */
export async function rawUnmaskedCapturedMail(db: Kysely<DB>, id: string) {
  const { row, masked } = await readCaptured(db, id);
  if (masked)
    throw new AppError(
      'invalid_state',
      'This mail holds sensitive values its archived message masks: its source is not served',
      { id, masked: true },
    );
  return row;
}

/** The parsed mail, as mailparser sees it (what a mail client would show), sensitive values masked. */
export async function parsedCapturedMail(db: Kysely<DB>, id: string) {
  const { row, p, archived, html, secrets, masked } = await readCaptured(db, id);
  const hide = (s: string) => (secrets.length ? maskText(s, secrets) : s);
  return {
    archived_message_id: archived?.id ?? null,
    masked,
    links: checkLinks(html === null ? null : hide(html)),
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
    subject: hide(p.subject ?? ''),
    headers: p.headerLines.map((h) => ({ name: h.key, line: hide(h.line) })),
    text: p.text === undefined ? null : hide(p.text),
    html: html === null ? null : hide(html),
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

/** Deletes the given mails (those that exist); how many went. */
export async function deleteCapturedMail(db: Kysely<DB>, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await db.deleteFrom('captured_mail').where('id', 'in', ids).executeTakeFirst();
  return Number(r.numDeletedRows);
}

export async function clearCapturedMail(db: Kysely<DB>): Promise<number> {
  const r = await db.deleteFrom('captured_mail').executeTakeFirst();
  return Number(r.numDeletedRows);
}
