import type { Kysely, Transaction } from 'kysely';
import type { Principal } from '../platform/http/auth.js';
import type { Config } from '../platform/config.js';
import type { ContentSeal } from '../platform/crypto/sealed-content.js';
import { type ContentStore, storeBodies } from '../content/index.js';
import type { CommitQueue } from '../platform/db/commit-queue.js';
import { insertRows } from '../platform/db/reused-sql.js';
import type { DB, MessageStatus, NewMessage } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import type { ResolvedTemplate, TemplateService } from '../templates/index.js';
import { normalizeAddress, parseRecipients } from './addresses.js';
import { type Attachment, type AttachmentInput, validateAttachments } from './attachments.js';
import type { EventLog } from '../events/index.js';
import { parseSendAt } from './schedule.js';

export interface SendRequest {
  to: string | string[];
  template_key: string;
  variables?: Record<string, unknown>;
  attachments?: AttachmentInput[];
  cc?: string | string[];
  bcc?: string | string[];
  reply_to?: string;
  locale?: string;
  template_version?: number;
  /** ISO 8601: hold the message until then (at most 30 days ahead). */
  send_at?: string;
}

export interface SendOptions {
  principal: Principal | null;
  isTest?: boolean;
  /** Work done in the accepting transaction, before and after the messages are stored (idempotency keys). */
  hooks?: {
    before?(trx: Transaction<DB>): Promise<void>;
    after?(trx: Transaction<DB>, items: SendResultItem[]): Promise<void>;
  };
}

export interface SendResultItem {
  id: string;
  to: string;
  status: MessageStatus;
}

/**
 * Decides, inside the accepting transaction, whether a recipient may be sent to. Policies
 * (suppression list, rate limits) plug in here so their checks and the insert are atomic.
 */
export interface AdmissionPolicy {
  admit(
    trx: Transaction<DB>,
    recipient: string,
    template: ResolvedTemplate,
    now: number,
  ): Promise<{ status: 'queued'; headers?: Record<string, string> } | { status: MessageStatus; reason: string }>;
}

/** What the send path uses. */
export interface SendDeps {
  db: Kysely<DB>;
  commits: CommitQueue;
  events: EventLog;
  templates: TemplateService;
  content: ContentStore;
  seal: ContentSeal;
  /** EMAIL_MAX_RECIPIENTS_PER_REQUEST, EMAIL_ALLOWED_ATTACHMENT_TYPES, EMAIL_MAX_ATTACHMENT_SIZE_MB. */
  email: Pick<Config['email'], 'maxRecipientsPerRequest' | 'allowedAttachmentTypes' | 'maxAttachmentSizeBytes'>;
  /** The domain of our Message-IDs (see messageIdDomain). */
  messageIdDomain: string;
  /** Asked in order, for each recipient, inside the accepting transaction. */
  policies: AdmissionPolicy[];
}

/** Our Message-IDs are <message id@the sender's domain>. */
export const messageIdDomain = (fromEmail: string): string => fromEmail.split('@')[1] ?? 'postier.localhost';

/**
 * The one send path: the HTTP API, the CLI and the template test send all come through here.
 * Validate and render first (errors are a 4xx to the caller), then store every message, its
 * attachments and its first event in one commit; only then is the caller answered. An
 * attachment's bytes are stored once per content, however many messages carry it (ContentStore).
 */
export class SendService {
  private readonly db: Kysely<DB>;
  private readonly commits: CommitQueue;
  private readonly events: EventLog;
  private readonly templates: TemplateService;
  private readonly content: ContentStore;
  private readonly seal: ContentSeal;
  private readonly email: SendDeps['email'];
  private readonly messageIdDomain: string;
  private readonly policies: AdmissionPolicy[];

  constructor(deps: SendDeps) {
    ({
      db: this.db,
      commits: this.commits,
      events: this.events,
      templates: this.templates,
      content: this.content,
      seal: this.seal,
    } = deps);
    this.email = deps.email;
    this.messageIdDomain = deps.messageIdDomain;
    this.policies = [...deps.policies];
  }

  addPolicy(policy: AdmissionPolicy): void {
    this.policies.push(policy);
  }

  private readonly queuedListeners: Array<() => void> = [];

  /** Called after a commit that queued messages (the in-process worker wakes up on it). */
  onQueued(fn: () => void): void {
    this.queuedListeners.push(fn);
  }

  async send(req: SendRequest, opts: SendOptions): Promise<{ items: SendResultItem[] }> {
    const max = this.email.maxRecipientsPerRequest;
    const recipients = parseRecipients(req.to, 'to', max).map(normalizeAddress);
    if (recipients.length === 0)
      throw new AppError('invalid_address', 'to: at least one recipient is required', { field: 'to' });
    const cc = parseRecipients(req.cc, 'cc', max).map(normalizeAddress);
    const bcc = parseRecipients(req.bcc, 'bcc', max).map(normalizeAddress);
    const replyTo = parseRecipients(req.reply_to, 'reply_to', 1).map(normalizeAddress)[0] ?? null;

    const template = await this.templates.resolve(req.template_key, {
      version: req.template_version,
      locale: req.locale,
    });
    const inputs = req.attachments ?? [];
    if (inputs.length > 0 && !template.attachmentsAllowed) {
      throw new AppError('attachments_not_allowed', `Template ${template.template.key} does not accept attachments`, {
        template_key: template.template.key,
      });
    }
    const attachments = await validateAttachments(
      inputs,
      this.email.allowedAttachmentTypes,
      this.email.maxAttachmentSizeBytes,
    );

    const now = Date.now();
    const sendAt = req.send_at === undefined ? now : parseSendAt(req.send_at, now);
    // Sensitive variables: the archive columns get a masked rendering, the clear one is sealed.
    const { archive, clear } = this.templates.renderForSend(template, req.variables ?? {}, new Date(now));

    const messages: NewMessage[] = recipients.map((to) => {
      const id = newId();
      return {
        id,
        template_key: template.template.key,
        template_version: template.version.version,
        locale: template.locale,
        category: template.template.category,
        class: template.template.class,
        source_endpoint: template.template.category,
        recipient_email: to,
        cc: cc.length ? JSON.stringify(cc) : null,
        bcc: bcc.length ? JSON.stringify(bcc) : null,
        reply_to: replyTo,
        headers: null,
        subject: archive.subject,
        html_content: archive.html,
        text_content: archive.text,
        attachments_count: attachments.length,
        status: 'queued',
        priority: template.template.priority,
        attempts: 0,
        max_attempts: template.template.max_attempts,
        next_attempt_at: sendAt,
        lease_owner: null,
        lease_expires_at: null,
        smtp_message_id: `<${id}@${this.messageIdDomain}>`,
        provider_message_id: null,
        smtp_response: null,
        sealed_content: clear ? this.seal.seal(id, clear) : null,
        sent_at: null,
        delivered_at: null,
        bounce_type: null,
        bounce_subtype: null,
        error_message: null,
        is_test: opts.isTest ? 1 : 0,
        resent_from_id: null,
        api_key_id: opts.principal?.keyId ?? null,
        created_at: now,
        updated_at: now,
      };
    });

    // Large contents are written before the commit, off the event loop; the commit references them.
    await this.content.prewrite(this.db, attachments, now);
    const items = await this.commits.run(async (trx) => {
      await opts.hooks?.before?.(trx);
      const stored = await this.store(trx, messages, attachments, template, now);
      await opts.hooks?.after?.(trx, stored);
      return stored;
    });
    this.announce(items);
    return { items };
  }

  /**
   * Stores already rendered messages (a resend) through the same admission policies, commit and
   * first event as send(); `within` adds the caller's own writes to the same transaction.
   */
  async enqueue(
    messages: NewMessage[],
    attachments: Attachment[],
    template: ResolvedTemplate,
    within?: (trx: Transaction<DB>, items: SendResultItem[]) => Promise<void>,
  ): Promise<SendResultItem[]> {
    const now = Date.now();
    await this.content.prewrite(this.db, attachments, now);
    const items = await this.commits.run(async (trx) => {
      const stored = await this.store(trx, messages, attachments, template, now);
      await within?.(trx, stored);
      return stored;
    });
    this.announce(items);
    return items;
  }

  /** After the commit: a worker in this process may lease the new messages at once. */
  private announce(items: SendResultItem[]): void {
    if (items.some((i) => i.status === 'queued')) for (const fn of this.queuedListeners) fn();
  }

  private async store(
    trx: Transaction<DB>,
    messages: NewMessage[],
    attachments: Attachment[],
    template: ResolvedTemplate,
    now: number,
  ): Promise<SendResultItem[]> {
    // Admitted in address order: policies that lock per recipient then lock in one order.
    for (const m of [...messages].sort((a, b) => (a.recipient_email < b.recipient_email ? -1 : 1))) {
      let reason: string | undefined;
      for (const policy of this.policies) {
        const verdict = await policy.admit(trx, m.recipient_email, template, now);
        if ('headers' in verdict && verdict.headers) {
          m.headers = JSON.stringify({ ...(m.headers ? (JSON.parse(m.headers) as object) : {}), ...verdict.headers });
        }
        if (verdict.status !== 'queued') {
          m.status = verdict.status;
          m.next_attempt_at = null;
          reason = 'reason' in verdict ? verdict.reason : undefined;
          m.error_message = reason ?? null;
          // Never sent, so the clear content has no reader: do not keep it.
          m.sealed_content = null;
          break;
        }
      }
    }
    const items: SendResultItem[] = messages.map((m) => ({
      id: m.id,
      to: m.recipient_email,
      status: m.status as MessageStatus,
    }));
    // Bodies go to email_bodies, compressed, once per rendering (content/bodies.ts).
    await storeBodies(trx, messages);
    await insertRows(trx, 'email_messages', messages);
    if (attachments.length > 0) {
      // The contents first (the references are foreign keys), then one small row per message.
      await this.content.ensure(trx, attachments, now);
      await trx
        .insertInto('email_attachments')
        .values(
          messages.flatMap((m) =>
            attachments.map((a) => ({
              id: newId(),
              message_id: m.id,
              filename: a.filename,
              content_type: a.contentType,
              size_bytes: a.data.length,
              sha256: a.sha256,
              blob_sha256: a.sha256,
              created_at: now,
            })),
          ),
        )
        .execute();
    }
    await this.events.record(
      trx,
      messages.map((m) => ({
        messageId: m.id,
        type: m.status === 'queued' ? 'queued' : m.status,
        at: now,
        data: {
          template_key: m.template_key,
          template_version: m.template_version,
          locale: m.locale,
          category: m.category,
          ...(m.resent_from_id ? { resent_from: m.resent_from_id } : {}),
          ...(m.status !== 'queued' ? { reason: m.error_message } : {}),
          ...(m.status === 'queued' && m.next_attempt_at! > now
            ? { send_at: new Date(m.next_attempt_at!).toISOString() }
            : {}),
          ...(m.is_test ? { test: true } : {}),
        },
        labels: { template_key: m.template_key ?? null, category: m.category, created_at: m.created_at },
      })),
    );
    return items;
  }
}
