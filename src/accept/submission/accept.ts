import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { AddressObject, ParsedMail } from 'mailparser';
import type { Config } from '../../platform/config.js';
import type { DB, NewMessage } from '../../platform/db/schema.js';
import type { Principal } from '../../platform/http/auth.js';
import { newId } from '../../platform/ids.js';
import { fieldValue } from '../../platform/mime-fields.js';
import { isValidAddress, normalizeAddress } from '../addresses.js';
import type { Attachment } from '../attachments.js';
import { idempotent } from '../idempotency.js';
import { parseSendAt } from '../schedule.js';
import type { SendOptions, SendResultItem, SendService } from '../send.service.js';
import { checkMime } from './mime-checks.js';
import { readOptions, type SubmissionOptions } from './options.js';
import { replyFor, SmtpReply } from './replies.js';

/** Who logged in on a submission session: the key's principal (with the senders it may use). */
export interface SubmissionUser {
  principal: Principal;
}

export interface SubmissionEnvelope {
  mailFrom: string;
  recipients: string[];
}

export interface AcceptDeps {
  send: Pick<SendService, 'send' | 'acceptSubmitted' | 'checkSender'>;
  db: Kysely<DB>;
  config: Pick<Config, 'email' | 'smtp'>;
  /** Of the Message-IDs made for messages that came without one. */
  messageIdDomain: string;
}

/** Work in the accepting transaction (idempotency keys), given what it stored. */
interface StoreHooks {
  before(trx: Transaction<DB>): Promise<void>;
  after(trx: Transaction<DB>, stored: { items: SendResultItem[]; messageId: string | null }): Promise<void>;
}

export interface Accepted {
  items: SendResultItem[];
  /** The Message-ID the messages carry (the client's, or the one made for them). */
  messageId: string | null;
  replayed: boolean;
}

const sendHooks = (hooks: StoreHooks | undefined, messageId: string | null): SendOptions['hooks'] =>
  hooks && { before: hooks.before, after: (trx, items) => hooks.after(trx, { items, messageId }) };

/** RFC 5322 msg-id as clients write it: <left@right>, no space or bracket inside. */
const MSG_ID = /^<[^\s<>@]+@[^\s<>@]+>$/;

/** mailparser, loaded with the first submitted message (a dynamic import per message showed in the profile). */
let parser: Promise<typeof import('mailparser')> | undefined;
const loadParser = () => (parser ??= import('mailparser'));

const refuse = (reason: string, text: string) => new SmtpReply(554, '5.6.0', reason, text);

const firstAddress = (a: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((o) => o.value).find((v) => v.address)?.address;

/** Of mailparser's reading: what the archive shows (the same columns as templated mail) and the attachments. */
function archived(parsed: ParsedMail): {
  subject: string;
  text: string | null;
  html: string | null;
  attachments: Attachment[];
} {
  return {
    subject: parsed.subject ?? '',
    text: parsed.text ?? null,
    html: typeof parsed.html === 'string' ? parsed.html : null,
    attachments: parsed.attachments.map((a, i) => ({
      filename: a.filename ?? `attachment-${i + 1}`,
      contentType: a.contentType || 'application/octet-stream',
      data: a.content,
      sha256: createHash('sha256').update(a.content).digest('hex'),
    })),
  };
}

/**
 * A message submitted over SMTP becomes messages through the accept service: checked (bad bytes,
 * headers, sender, options), one message per envelope recipient, stored with its raw MIME and
 * its parsed parts in one durable commit. Resolves only once that commit is on disk: the caller
 * answers 250 then, and never before. With X-Postier-Template the stored template is rendered
 * for the envelope recipients instead (the client's body is not kept).
 */
export class SubmissionAcceptor {
  constructor(private readonly deps: AcceptDeps) {}

  /**
   * Sender identity, the accept service's rule (FROM_ALLOWED_DOMAINS and the key's own list): at
   * MAIL FROM and on the From field. Throws 550 5.7.1 from_not_allowed.
   */
  checkSender(user: SubmissionUser, address: string): void {
    try {
      this.deps.send.checkSender(address, user.principal);
    } catch (e) {
      throw replyFor(e);
    }
  }

  async accept(user: SubmissionUser, envelope: SubmissionEnvelope, raw: Buffer): Promise<Accepted> {
    const split = checkMime(raw);
    const options = readOptions(split.fields);
    const messageIdField = split.fields.find((f) => f.key === 'message-id');
    const clientMessageId = messageIdField ? fieldValue(messageIdField) : null;
    if (clientMessageId !== null && (!MSG_ID.test(clientMessageId) || clientMessageId.length > 250))
      throw refuse(
        'malformed_header',
        `Message-ID ${JSON.stringify(clientMessageId.slice(0, 80))} is not <left@right>`,
      );
    const { simpleParser } = await loadParser();
    let parsed: ParsedMail;
    try {
      parsed = await simpleParser(raw, { skipTextToHtml: true, skipHtmlToText: true, skipImageLinks: true });
    } catch (e) {
      throw refuse('malformed_mime', `The message could not be parsed: ${e instanceof Error ? e.message : String(e)}`);
    }
    const fromList = parsed.from?.value ?? [];
    const from = fromList.length === 1 ? fromList[0]! : undefined;
    if (!from?.address || !isValidAddress(from.address))
      throw refuse('malformed_header', 'From must name exactly one valid sender address');
    this.checkSender(user, from.address);
    const recipients = envelope.recipients.map(normalizeAddress);

    const scope = user.principal.keyId ?? `token:${user.principal.name}`;
    const run = (hooks?: StoreHooks) =>
      options.template
        ? this.renderTemplate(user, recipients, from, options, hooks)
        : this.storeMime(user, recipients, raw, parsed, from, clientMessageId, options, hooks);
    if (!options.idempotencyKey) return { ...(await run()), replayed: false };
    // A retry of the same message (same envelope, same bytes) replays the first answer.
    const request = {
      door: 'smtp',
      mail_from: envelope.mailFrom,
      to: [...recipients].sort(),
      raw_sha256: createHash('sha256').update(raw).digest('hex'),
    };
    const r = await idempotent(this.deps.db, scope, options.idempotencyKey, request, async (h) => {
      const result = await run({
        before: h.before,
        after: (trx, stored) => h.after(trx, { status: 250, body: stored }),
      });
      return { status: 250, body: result };
    });
    const body = r.body as { items: SendResultItem[]; messageId: string | null };
    return { items: body.items, messageId: body.messageId, replayed: r.replayed };
  }

  private async storeMime(
    user: SubmissionUser,
    recipients: string[],
    raw: Buffer,
    parsed: ParsedMail,
    from: { address?: string; name: string },
    clientMessageId: string | null,
    options: SubmissionOptions,
    hooks: StoreHooks | undefined,
  ): Promise<{ items: SendResultItem[]; messageId: string }> {
    const { config } = this.deps;
    const now = Date.now();
    const sendAt = options.sendAt === undefined ? now : parseSendAt(options.sendAt, now);
    const content = archived(parsed);
    const category = options.category ?? 'smtp';
    // A category named like a sending class (marketing, …) is that class: its rate limit and unsubscribe headers apply.
    const cls = Object.hasOwn(config.email.rateLimits, category) ? category : 'transactional';
    const rawSha = createHash('sha256').update(raw).digest('hex');
    const ids = recipients.map(() => newId());
    // One Message-ID for the submitted message, whatever the number of recipients: the client's, or one made now.
    const messageId = clientMessageId ?? `<${ids[0]}@${this.deps.messageIdDomain}>`;
    const replyTo = firstAddress(parsed.replyTo);
    const messages: NewMessage[] = recipients.map((to, i) => ({
      id: ids[i]!,
      template_key: null,
      template_version: null,
      locale: null,
      category,
      class: cls,
      source_endpoint: 'smtp',
      source: 'smtp',
      recipient_email: to,
      cc: null,
      bcc: null,
      reply_to: replyTo && isValidAddress(replyTo) ? normalizeAddress(replyTo) : null,
      headers: null,
      subject: content.subject,
      html_content: content.html,
      text_content: content.text,
      attachments_count: content.attachments.length,
      status: 'queued',
      priority: 5,
      attempts: 0,
      max_attempts: config.smtp.retryMaxAttempts,
      next_attempt_at: sendAt,
      lease_owner: null,
      lease_expires_at: null,
      smtp_message_id: messageId,
      provider_message_id: null,
      smtp_response: null,
      sealed_content: null,
      sent_at: null,
      delivered_at: null,
      bounce_type: null,
      bounce_subtype: null,
      error_message: null,
      is_test: 0,
      resent_from_id: null,
      api_key_id: user.principal.keyId,
      from_email: normalizeAddress(from.address!),
      from_name: from.name || null,
      tags: options.tags ? JSON.stringify(options.tags) : null,
      metadata: options.metadata ? JSON.stringify(options.metadata) : null,
      raw_sha256: rawSha,
      created_at: now,
      updated_at: now,
    }));
    const items = await this.deps.send.acceptSubmitted({
      messages,
      raw: { sha256: rawSha, data: raw },
      attachments: content.attachments,
      // The category came from the client's X-Postier-Category: never one that may bypass suppressions.
      admission: { category, class: cls, locale: config.email.defaultLocale, trustedCategory: false },
      hooks: sendHooks(hooks, messageId),
    });
    return { items, messageId };
  }

  private async renderTemplate(
    user: SubmissionUser,
    recipients: string[],
    from: { address?: string; name: string },
    options: SubmissionOptions,
    hooks: StoreHooks | undefined,
  ): Promise<{ items: SendResultItem[]; messageId: null }> {
    // The client's From is the sender (already checked); its body is replaced by the template's.
    const sender = from.name ? `${JSON.stringify(from.name)} <${from.address}>` : from.address!;
    const { items } = await this.deps.send.send(
      {
        to: recipients,
        from: sender,
        template_key: options.template!,
        variables: options.variables ?? {},
        ...(options.sendAt ? { send_at: options.sendAt } : {}),
        ...(options.category ? { category: options.category } : {}),
        ...(options.tags ? { tags: options.tags } : {}),
        ...(options.metadata ? { metadata: options.metadata } : {}),
      },
      { principal: user.principal, hooks: sendHooks(hooks, null) },
    );
    return { items, messageId: null };
  }
}
