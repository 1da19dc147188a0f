import type { Kysely, Transaction } from 'kysely';
import { type Admission, admissionOf, type SendResultItem, type SendService } from '../accept/index.js';
import { attachmentsWithData, readContent } from '../content/index.js';
import type { EventLog } from '../events/index.js';
import type { DB, NewMessage } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { messageWithBodies } from './queries.js';
import type { ResolvedTemplate, TemplateService } from '../templates/index.js';

/** What a resend uses. */
export interface ResendDeps {
  db: Kysely<DB>;
  events: EventLog;
  templates: Pick<TemplateService, 'resolve'>;
  send: Pick<SendService, 'enqueue' | 'checkSender'>;
  /** The domain of our Message-IDs (accept's messageIdDomain). */
  messageIdDomain: string;
}

/**
 * The sensitive variables a message's archive had to mask: declared sensitive by the version it
 * was rendered from, and either required or read by the template (an unread one masks nothing).
 */
function maskedVariables(t: ResolvedTemplate): string[] {
  const read = new Set([...t.required, ...t.compiled.usedVariables]);
  return t.sensitive.filter((v) => read.has(v));
}

/**
 * Sends an archived message again: a new message (new id, new Message-ID) with the archived
 * subject, bodies, sender, recipients and attachments, linked by resent_from_id. It goes through
 * the same admission policies and commit as any send, so a now-suppressed address is refused the
 * same way. One path for every kind of message (the API and the admin UI both come here):
 * - rendered from a template: resent as archived, unless the archive masks sensitive values;
 * - raw (no template): resent from its archived subject and bodies, judged by its own class and
 *   category, and its sender checked again against FROM_ALLOWED_DOMAINS (which may have changed);
 * - submitted over SMTP (raw_sha256): the copy refers to the same stored MIME, which delivery sends.
 */
export async function resendMessage(s: ResendDeps, id: string, actor: string | null): Promise<SendResultItem> {
  // With its bodies: the copy gets its own body row (the send path stores it), nothing links it to the original's.
  const original = await messageWithBodies(s.db, id);
  // Not gone out yet: a copy would send it twice (a scheduled one early too). The admin UI offers
  // no resend for these; the API said 201 and queued the copy.
  if (original.status === 'scheduled' || original.status === 'queued' || original.status === 'sending') {
    throw new AppError(
      'invalid_state',
      `Message ${id} is ${original.status}: it has not gone out yet, so a resend would send it twice (cancel it first, or wait)`,
      { status: original.status },
    );
  }
  // Erasure drops the bodies (and a submitted message's MIME): nothing left to send again.
  const erased =
    original.anonymized_at !== null ||
    (original.raw_sha256 === null
      ? original.html_content === null && original.text_content === null
      : (await readContent(s.db, original.raw_sha256)) === null);
  if (erased) throw erasedError(id);
  if (original.from_email !== null) s.send.checkSender(original.from_email, null);
  const admission = original.template_key === null ? rawAdmission(original) : await templated(s, original);
  const rows = await attachmentsWithData(s.db, id);
  if (rows.some((a) => a.data === null)) {
    throw new AppError('resend_content_erased', 'An attachment of this message was removed by the retention policy', {
      id,
    });
  }

  const now = Date.now();
  const newIdValue = newId();
  const domain = s.messageIdDomain;
  const copy: NewMessage = {
    ...original,
    id: newIdValue,
    status: 'queued',
    attempts: 0,
    next_attempt_at: now,
    lease_owner: null,
    lease_expires_at: null,
    smtp_message_id: `<${newIdValue}@${domain}>`,
    provider_message_id: null,
    smtp_response: null,
    sealed_content: null,
    sent_at: null,
    delivered_at: null,
    bounce_type: null,
    bounce_subtype: null,
    bounce_category: null,
    error_message: null,
    recipient_status: null,
    relay_problem_since: null,
    resent_from_id: original.id,
    body_id: null,
    anonymized_at: null,
    source: 'resend',
    // Branch point for SMTP-submitted mail: raw_sha256 is copied, so the new message refers to the
    // same stored MIME (kept alive by the reference); delivery sends it with the new Message-ID.
    send_at: null,
    created_at: now,
    updated_at: now,
  };
  const attachments = rows.map((a) => ({
    filename: a.filename,
    contentType: a.content_type,
    data: a.data!,
    sha256: a.sha256,
  }));
  const [item] = await s.send.enqueue([copy], attachments, admission, async (trx, items) => {
    // In the commit, the original's row locked (a no-op update: PostgreSQL's row lock, SQLite's
    // write lock), so two resends of one message, and a resend and an erasure, take turns.
    const locked = await trx
      .updateTable('email_messages')
      .set((eb) => ({ status: eb.ref('status') }))
      .where('id', '=', original.id)
      .returning(['anonymized_at'])
      .executeTakeFirst();
    if (!locked) throw new AppError('message_not_found', `No message ${id}`);
    // An erasure committed since the content was read: no copy of what it erased.
    if (locked.anonymized_at !== null) throw erasedError(id);
    await noPendingCopy(trx, original.id, items[0]!.id);
    await s.events.record(trx, [
      {
        messageId: original.id,
        type: 'resent',
        at: now,
        data: { resent_as: items[0]!.id, status: items[0]!.status, by: actor },
      },
    ]);
  });
  return item!;
}

const erasedError = (id: string) =>
  new AppError('resend_content_erased', 'This message was anonymized or erased: its content is no longer archived', {
    id,
  });

/** A copy that has not gone out yet: it will be sent, so a second one would send the message twice. */
const PENDING = ['scheduled', 'queued', 'sending'] as const;

/**
 * A resend while an earlier copy of the same message still waits to go out (a double click, a
 * script run twice) is refused: both copies would be sent. Its copies are found by the original's
 * `resent` events (email_events_message), not by resent_from_id (no index).
 */
async function noPendingCopy(trx: Transaction<DB>, originalId: string, own: string): Promise<void> {
  const events = await trx
    .selectFrom('email_events')
    .select('data')
    .where('message_id', '=', originalId)
    .where('type', '=', 'resent')
    .execute();
  const copies = events
    .map((e) => (e.data ? (JSON.parse(e.data) as { resent_as?: unknown }).resent_as : undefined))
    .filter((c): c is string => typeof c === 'string' && c !== own);
  if (copies.length === 0) return;
  const pending = await trx
    .selectFrom('email_messages')
    .select(['id', 'status'])
    .where('id', 'in', copies)
    .where('status', 'in', PENDING)
    .executeTakeFirst();
  if (pending)
    throw new AppError(
      'invalid_state',
      `Message ${originalId} was already resent as ${pending.id}, which is ${pending.status}: a second resend would send it twice (cancel that copy first, or wait)`,
      { status: pending.status, resent_as: pending.id },
    );
}

/** Mail without a template: judged by what it was accepted as; a category its sender chose never bypasses suppressions. */
const rawAdmission = (m: { class: string; category: string; locale: string | null }): Admission => ({
  class: m.class,
  category: m.category,
  locale: m.locale,
  trustedCategory: false,
});

/** Templated mail: the version it was rendered from decides whether the archive can be resent as it is. */
async function templated(
  s: ResendDeps,
  original: {
    id: string;
    template_key: string | null;
    template_version: number | null;
    locale: string | null;
    class: string;
    category: string;
  },
): Promise<Admission> {
  const template = await s.templates.resolve(original.template_key!, {
    version: original.template_version ?? undefined,
    locale: original.locale ?? undefined,
    allowInactive: true,
  });
  const masked = maskedVariables(template);
  if (masked.length > 0) {
    throw new AppError(
      'resend_masked_content',
      'The archive holds masked sensitive values; send a new message with fresh variables instead',
      {
        id: original.id,
        template_key: original.template_key,
        template_version: original.template_version,
        sensitive_variables: masked,
      },
    );
  }
  // What the message was accepted as; its category is trusted only if it is the template's own.
  return {
    ...admissionOf(template),
    class: original.class,
    category: original.category,
    trustedCategory: original.category === template.template.category,
  };
}
