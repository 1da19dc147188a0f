import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { AddressObject } from 'mailparser';
import type { DB } from '../../platform/db/schema.js';
import type { Principal } from '../../platform/http/auth.js';
import { newId } from '../../platform/ids.js';
import { fieldValue } from '../../platform/mime-fields.js';
import { isValidAddress, normalizeAddress } from '../addresses.js';
import { idempotencyScope, idempotent } from '../idempotency.js';
import { parseSendAt } from '../schedule.js';
import type { SendOptions, SendResultItem, SendService } from '../send.service.js';
import { asWritten, type FromAddress, readPlainFrom } from './from-field.js';
import { checkMime } from './mime-checks.js';
import { readOptions, type SubmissionOptions } from './options.js';
import { replyFor, SmtpReply } from './replies.js';
import { loadParser, type SpooledOptions, type SubmissionSpool } from './spool.js';

/** Who logged in on a submission session: the key's principal (with the senders it may use). */
export interface SubmissionUser {
  principal: Principal;
}

export interface SubmissionEnvelope {
  mailFrom: string;
  recipients: string[];
}

export interface AcceptDeps {
  send: Pick<SendService, 'send' | 'checkSender'>;
  /** Where plain submitted messages are stored before their 250 (and made into messages after). */
  spool: Pick<SubmissionSpool, 'admit' | 'put'>;
  db: Kysely<DB>;
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

const refuse = (reason: string, text: string) => new SmtpReply(554, '5.6.0', reason, text);

/**
 * A message submitted over SMTP becomes messages through the accept service: checked (bad bytes,
 * header, sender, options) and given one message id per envelope recipient, then spooled raw in
 * one durable commit (see spool.ts). Resolves only once that commit is on disk: the caller
 * answers 250 then, and never before. The spool ingester makes the messages (parsed parts,
 * attachments, admission, events) a moment later, with those ids. With X-Postier-Template the
 * stored template is rendered for the envelope recipients instead (the client's body is not kept).
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

  /** `gone`: the client has closed its connection (nothing is spooled for it after a wait). */
  async accept(
    user: SubmissionUser,
    envelope: SubmissionEnvelope,
    raw: Buffer,
    gone?: () => boolean,
  ): Promise<Accepted> {
    const split = checkMime(raw);
    const options = readOptions(split.fields);
    const messageIdField = split.fields.find((f) => f.key === 'message-id');
    const clientMessageId = messageIdField ? fieldValue(messageIdField) : null;
    if (clientMessageId !== null && (!MSG_ID.test(clientMessageId) || clientMessageId.length > 250))
      throw refuse(
        'malformed_header',
        `Message-ID ${JSON.stringify(clientMessageId.slice(0, 80))} is not <left@right> of at most 250 characters`,
      );
    // The sender, as mailparser reads it, from the header alone (the spool's ingester parses the
    // whole message once, after the 250); a plainly written From is read without it.
    const from = await this.readFrom(raw, split.bodyStart, fieldValue(split.fields.find((f) => f.key === 'from')!));
    if (!from?.address || !isValidAddress(from.address))
      throw refuse('malformed_header', 'From must name exactly one valid sender address');
    this.checkSender(user, from.address);
    // Sender names who sent the mail on the From's behalf ("on behalf of" in some readers): it is
    // an identity as much as From, and the key must be allowed to use it too.
    const senderField = split.fields.find((f) => f.key === 'sender');
    if (senderField) {
      const sender = await this.readFrom(raw, split.bodyStart, fieldValue(senderField), 'sender');
      if (!sender?.address || !isValidAddress(sender.address))
        throw refuse('malformed_header', 'Sender must name exactly one valid address');
      this.checkSender(user, sender.address);
    }
    const recipients = envelope.recipients.map(normalizeAddress);

    const scope = idempotencyScope(user.principal);
    const run = (hooks?: StoreHooks) =>
      options.template
        ? this.renderTemplate(user, recipients, from, options, hooks)
        : this.spoolMime(user, envelope.mailFrom, recipients, raw, from, clientMessageId, options, hooks, gone);
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

  /** The From field's one address (or, with `field`, the Sender field's), as mailparser reads it. */
  private async readFrom(
    raw: Buffer,
    bodyStart: number,
    value: string,
    field: 'from' | 'sender' = 'from',
  ): Promise<FromAddress | undefined> {
    const plain = readPlainFrom(value);
    if (plain) return plain;
    const { simpleParser } = await loadParser();
    let fromList: Array<{ address?: string; name: string }>;
    try {
      const parsed = await simpleParser(raw.subarray(0, bodyStart));
      const addresses = field === 'from' ? parsed.from : (parsed.headers.get('sender') as AddressObject | undefined);
      fromList = addresses?.value ?? [];
    } catch (e) {
      throw refuse('malformed_mime', `The message could not be parsed: ${e instanceof Error ? e.message : String(e)}`);
    }
    const only = fromList.length === 1 ? fromList[0]! : undefined;
    if (!only?.address) return undefined;
    const address = asWritten(only.address, value);
    if (address === undefined)
      throw refuse(
        'malformed_header',
        `${field === 'from' ? 'From' : 'Sender'} reads as ${JSON.stringify(only.address)}, which the field does not write as such (a punycode domain that does not decode back, or a comment inside the address)`,
      );
    return { address, name: only.name };
  }

  private async spoolMime(
    user: SubmissionUser,
    mailFrom: string,
    recipients: string[],
    raw: Buffer,
    from: FromAddress,
    clientMessageId: string | null,
    options: SubmissionOptions,
    hooks: StoreHooks | undefined,
    gone: (() => boolean) | undefined,
  ): Promise<{ items: SendResultItem[]; messageId: string }> {
    await this.deps.spool.admit(gone);
    const now = Date.now();
    const sendAt = options.sendAt === undefined ? now : parseSendAt(options.sendAt, now);
    const ids = recipients.map(() => newId());
    // One Message-ID for the submitted message, whatever the number of recipients: the client's, or one made now.
    const messageId = clientMessageId ?? `<${ids[0]}@${this.deps.messageIdDomain}>`;
    // Accepted; what admission decides (suppressed, rate limited) is the messages' status once stored.
    const items: SendResultItem[] = recipients.map((to, i) => ({ id: ids[i]!, to, status: 'queued' }));
    const kept: SpooledOptions = {
      ...(options.category ? { category: options.category } : {}),
      ...(options.tags ? { tags: options.tags } : {}),
      ...(options.metadata ? { metadata: options.metadata } : {}),
      ...(options.idempotencyKey
        ? { idempotency: { scope: idempotencyScope(user.principal), key: options.idempotencyKey } }
        : {}),
    };
    await this.deps.spool.put(
      {
        received_at: now,
        api_key_id: user.principal.keyId,
        envelope_from: mailFrom,
        recipients: JSON.stringify(recipients),
        message_ids: JSON.stringify(ids),
        smtp_message_id: messageId,
        from_email: normalizeAddress(from.address),
        options: Object.keys(kept).length > 0 ? JSON.stringify(kept) : null,
        send_at: sendAt,
        raw,
      },
      hooks && { before: hooks.before, after: (trx) => hooks.after(trx, { items, messageId }) },
    );
    return { items, messageId };
  }

  private async renderTemplate(
    user: SubmissionUser,
    recipients: string[],
    from: FromAddress,
    options: SubmissionOptions,
    hooks: StoreHooks | undefined,
  ): Promise<{ items: SendResultItem[]; messageId: null }> {
    // The client's From is the sender (already checked); its body is replaced by the template's.
    // A quoted-string as RFC 5322 writes one (only backslash and double quote escaped), for the
    // send path's parser to read back exactly; JSON's escapes (\u0000) are not that syntax.
    const sender = from.name ? `"${from.name.replace(/[\\"]/g, '\\$&')}" <${from.address}>` : from.address;
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
