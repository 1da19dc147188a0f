import type { Static } from '@fastify/type-provider-typebox';
import type { Kysely, Transaction } from 'kysely';
import type { Principal } from '../platform/http/auth.js';
import type { Config } from '../platform/config.js';
import type { ContentSeal } from '../platform/crypto/sealed-content.js';
import {
  BodyIdPool,
  type BodyRow,
  type Content,
  type ContentStore,
  type EncodedBody,
  encodeAllAhead,
  reserveBodies,
} from '../content/index.js';
import type { CommitQueue } from '../platform/db/commit-queue.js';
import { insertRows, insertRowsTogether } from '../platform/db/reused-sql.js';
import type { DB, MessageStatus, NewMessage, TemplateRow } from '../platform/db/schema.js';
import type { Dialect } from '../platform/db/database.js';
import { GroupCommit } from './group-commit.js';
import { AppError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { type ResolvedTemplate, refuseUnsafeUrls, type TemplateService, textFromHtml } from '../templates/index.js';
import { checkHeaderValue } from '../platform/header-safety.js';
import { checkCategory, checkMetadata, checkTags } from './options.js';
import { checkSenderAllowed, parseSender } from './sender.js';
import { normalizeAddress, parseRecipients } from './addresses.js';
import { type Attachment, type AttachmentInput, validateAttachments } from './attachments.js';
import { type EventLog, eventRows, type NewEvent } from '../events/index.js';
import { parseSendAt } from './schedule.js';
import type { SendBody } from './schemas.js';

/**
 * The body of a send, as the route's schema (schemas.ts) declares it, except that attachments may
 * carry the bytes the HTTP layer decoded from base64 (platform/http/large-json.ts).
 */
export type SendRequest = Omit<Static<typeof SendBody>, 'attachments'> & { attachments?: AttachmentInput[] };

export interface SendOptions {
  principal: Principal | null;
  isTest?: boolean;
  /** The door the message came in by (email_messages.source): api (default), batch, test, cli, smtp. */
  source?: string;
  /** Work done in the accepting transaction, before and after the messages are stored (idempotency keys). */
  hooks?: SendHooks;
}

export interface SendHooks {
  before?(trx: Transaction<DB>): Promise<void>;
  after?(trx: Transaction<DB>, items: SendResultItem[]): Promise<void>;
}

export interface SendResultItem {
  id: string;
  to: string;
  status: MessageStatus;
}

/** What admission policies judge a message by: its class and category, and its language (unsubscribe pages). */
export interface Admission {
  class: string;
  category: string;
  locale: string | null;
  /**
   * The category was set by a template's author, not chosen by the caller: only such a category
   * may bypass suppressions (EMAIL_SUPPRESSION_BYPASS_CATEGORIES), or any key could bypass them.
   */
  trustedCategory: boolean;
  /** When the message is to go, when later than now (a send_at): rate limits count it then. */
  sendAt?: number;
}

/**
 * Decides, inside the accepting transaction, whether a recipient may be sent to. Policies
 * (suppression list, rate limits) plug in here so their checks and the insert are atomic.
 */
export interface AdmissionPolicy {
  admit(trx: Transaction<DB>, recipient: string, message: Admission, now: number): Promise<Verdict>;
  /**
   * The same verdicts for many recipients at once (a commit's worth), in their order: one query
   * instead of one per recipient. Optional; without it each recipient is asked through admit().
   */
  admitMany?(
    trx: Transaction<DB>,
    items: Array<{ recipient: string; message: Admission }>,
    now: number,
  ): Promise<Verdict[]>;
}

export type Verdict =
  | { status: 'queued'; headers?: Record<string, string> }
  | { status: MessageStatus; reason: string };

/** One request's messages, ready to store: everything that can fail on the caller's input has been checked. */
interface Unit {
  messages: NewMessage[];
  attachments: Attachment[];
  admission: Admission;
  hooks?: SendHooks;
  /** Contents the messages reference by hash other than attachments (a submitted message's raw MIME). */
  contents?: Content[];
  /** Rendered from a cached template row (group commits): checked in the commit, prepared again if it changed. */
  template?: { row: TemplateRow; redo: () => Promise<Unit> };
  /** The unit's rendering, compressed before its commit (see encodeBodiesOf), not inside it. */
  bodies?: EncodedBody[];
}

/** One entry of a batch: its request and its own hooks (its idempotency key). */
export interface BatchEntry {
  request: SendRequest;
  hooks?: SendHooks;
}

export type BatchOutcome = { ok: true; items: SendResultItem[] } | { ok: false; error: unknown };

export const admissionOf = (t: ResolvedTemplate): Admission => ({
  class: t.template.class,
  category: t.template.category,
  locale: t.locale,
  trustedCategory: true,
});

/** What the send path uses. */
export interface SendDeps {
  db: Kysely<DB>;
  commits: CommitQueue;
  events: EventLog;
  templates: TemplateService;
  content: ContentStore;
  seal: ContentSeal;
  /**
   * EMAIL_MAX_RECIPIENTS_PER_REQUEST, EMAIL_ALLOWED_ATTACHMENT_TYPES, EMAIL_MAX_ATTACHMENT_SIZE_MB,
   * FROM_ALLOWED_DOMAINS, and the classes that exist (EMAIL_RATE_LIMIT_<CLASS>).
   */
  email: Pick<
    Config['email'],
    'maxRecipientsPerRequest' | 'allowedAttachmentTypes' | 'maxAttachmentSizeBytes' | 'fromAllowed' | 'rateLimits'
  >;
  /** SMTP_FROM_EMAIL: the sender of every message without its own `from`, always allowed. */
  fromEmail: string;
  /** The domain of our Message-IDs (see messageIdDomain). */
  messageIdDomain: string;
  /** Asked in order, for each recipient, inside the accepting transaction. */
  policies: AdmissionPolicy[];
  /** PostgreSQL: concurrent sends share transactions (GroupCommit); SQLite: the CommitQueue groups them. */
  dialect?: Dialect;
  /** PostgreSQL group commits running at once (default 4; each holds one of the pool's connections). */
  groupsInFlight?: number;
  /**
   * DOMAIN_VERIFICATION=enforce: whether a From domain passed its last DNS check (domains/). Unset:
   * verification is reported, not enforced.
   */
  domainVerified?: (domain: string) => boolean;
}

/** Our Message-IDs are <message id@the sender's domain>. */
export const messageIdDomain = (fromEmail: string): string => fromEmail.split('@')[1] ?? 'postier.localhost';

/** Bodies of a raw send: as large as a template's rendering may be. */
const RAW_BODY_MAX_CHARS = 2_000_000;
const RAW_DEFAULTS = { category: 'general', class: 'transactional', priority: 5, maxAttempts: 3 };
const TEMPLATE_ONLY = ['variables', 'locale', 'template_version'] as const;
const RAW_ONLY = ['subject', 'html', 'text', 'class'] as const;

/**
 * The one send path: the HTTP API (single and batch sends), the CLI and the template test send
 * all come through here. Validate and render first (errors are a 4xx to the caller), then store
 * every message, its attachments and its first event in one commit; only then is the caller
 * answered. An attachment's bytes are stored once per content, however many messages carry it
 * (ContentStore).
 */
/** Items of a batch whose template ran out of render time, after which its other items are not rendered. */
const RUNAWAY_PER_TEMPLATE = 2;
/** A batch item that took longer than this to prepare lets the event loop take a turn. */
const SLOW_ITEM_MS = 20;

const isRenderTimeout = (e: unknown): boolean =>
  e instanceof AppError &&
  e.code === 'render_error' &&
  (e.details as { limit?: unknown } | undefined)?.limit === 'render_time';

const notRendered = (templateKey: string) =>
  new AppError(
    'render_error',
    `Not rendered: ${RUNAWAY_PER_TEMPLATE} earlier items of this batch with template ${templateKey} ran out of render time`,
    { limit: 'render_time', template_key: templateKey, rendered: false },
  );

export class SendService {
  private readonly db: Kysely<DB>;
  private readonly commits: CommitQueue;
  private readonly events: EventLog;
  private readonly templates: TemplateService;
  private readonly content: ContentStore;
  private readonly seal: ContentSeal;
  private readonly email: SendDeps['email'];
  private readonly fromEmail: string;
  private readonly messageIdDomain: string;
  private readonly policies: AdmissionPolicy[];
  private readonly group: GroupCommit<Unit, BatchOutcome> | null;
  /** PostgreSQL: email_bodies ids taken ahead (see BodyIdPool). */
  private readonly bodyIds = new BodyIdPool();
  private readonly dialect: Dialect;
  private readonly domainVerified: SendDeps['domainVerified'];

  constructor(deps: SendDeps) {
    this.dialect = deps.dialect ?? 'sqlite';
    ({
      db: this.db,
      commits: this.commits,
      events: this.events,
      templates: this.templates,
      content: this.content,
      seal: this.seal,
    } = deps);
    this.email = deps.email;
    this.fromEmail = deps.fromEmail;
    this.messageIdDomain = deps.messageIdDomain;
    this.domainVerified = deps.domainVerified;
    this.policies = [...deps.policies];
    this.group =
      deps.dialect === 'postgres'
        ? new GroupCommit((units) => this.runGroup(units), { maxInFlight: deps.groupsInFlight ?? 4, maxUnits: 1000 })
        : null;
  }

  addPolicy(policy: AdmissionPolicy): void {
    this.policies.push(policy);
  }

  private readonly queuedListeners: Array<() => void> = [];

  /** Called after a commit that queued messages (the in-process worker wakes up on it). */
  onQueued(fn: () => void): void {
    this.queuedListeners.push(fn);
  }

  /**
   * Sender identity: may `principal` send as `address`? Throws 403 from_not_allowed otherwise
   * (SMTP submission answers it with 550 5.7.1). See sender.ts for the rules.
   */
  checkSender(address: string, principal: Pick<Principal, 'allowedFrom'> | null): void {
    checkSenderAllowed(address, principal, this.email.fromAllowed, this.fromEmail);
    const verified = this.domainVerified;
    if (!verified || address.toLowerCase() === this.fromEmail.toLowerCase()) return;
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
    if (!verified(domain))
      throw new AppError(
        'domain_not_verified',
        `${domain} has not passed its DNS check (DKIM, SPF, DMARC): publish its records, then check it (DOMAIN_VERIFICATION=enforce)`,
        { domain },
      );
  }

  async send(req: SendRequest, opts: SendOptions): Promise<{ items: SendResultItem[] }> {
    const unit = await this.prepare(req, opts);
    const [outcome] = await this.commit([unit], false);
    if (!outcome!.ok) throw outcome!.error;
    return { items: outcome!.items };
  }

  /**
   * Several independent requests in one commit (POST /api/v1/email/batch). Each is validated and
   * rendered on its own: one that fails gets its error in its place and the others go on. The
   * prepared ones are stored in one transaction; if that fails, each is stored alone, so one
   * that cannot be stored (an idempotency key taken meanwhile) cannot sink the others.
   */
  async sendMany(entries: BatchEntry[], opts: Omit<SendOptions, 'hooks'>): Promise<BatchOutcome[]> {
    const outcomes: BatchOutcome[] = new Array(entries.length);
    const units: Unit[] = [];
    const at: number[] = [];
    // Templates whose renders ran out of time in this batch: a template looping over sizes the
    // caller controls takes the whole render limit each time, and 500 such items would hold the
    // process for minutes. After RUNAWAY_PER_TEMPLATE of them, the template's other items are
    // refused unrendered; and the event loop gets a turn after any slow item.
    const runaway = new Map<string, number>();
    for (const [i, e] of entries.entries()) {
      const key =
        e.request.template_key === undefined ? null : `${e.request.template_key}@${e.request.template_version ?? ''}`;
      if (key !== null && (runaway.get(key) ?? 0) >= RUNAWAY_PER_TEMPLATE) {
        outcomes[i] = { ok: false, error: notRendered(e.request.template_key!) };
        continue;
      }
      const started = performance.now();
      try {
        units.push(await this.prepare(e.request, { ...opts, hooks: e.hooks }));
        at.push(i);
      } catch (error) {
        outcomes[i] = { ok: false, error };
        if (key !== null && isRenderTimeout(error)) runaway.set(key, (runaway.get(key) ?? 0) + 1);
      }
      if (performance.now() - started > SLOW_ITEM_MS) await new Promise((r) => setImmediate(r));
    }
    const stored = await this.commit(units, true);
    stored.forEach((o, j) => {
      outcomes[at[j]!] = o;
    });
    return outcomes;
  }

  /**
   * Stores already rendered messages (a resend) through the same admission policies, commit and
   * first event as send(); `within` adds the caller's own writes to the same transaction.
   */
  async enqueue(
    messages: NewMessage[],
    attachments: Attachment[],
    admission: Admission | ResolvedTemplate,
    within?: (trx: Transaction<DB>, items: SendResultItem[]) => Promise<void>,
  ): Promise<SendResultItem[]> {
    const unit: Unit = {
      messages,
      attachments,
      admission: 'template' in admission ? admissionOf(admission) : admission,
      hooks: within ? { after: within } : undefined,
    };
    const [outcome] = await this.commit([unit], false);
    if (!outcome!.ok) throw outcome!.error;
    return outcome!.items;
  }

  /** Validation, sender identity, rendering: everything a caller's mistake can fail, before any write. */
  private async prepare(req: SendRequest, opts: SendOptions): Promise<Unit> {
    const max = this.email.maxRecipientsPerRequest;
    const recipients = parseRecipients(req.to, 'to', max).map(normalizeAddress);
    if (recipients.length === 0)
      throw new AppError('invalid_address', 'to: at least one recipient is required', { field: 'to' });
    const cc = parseRecipients(req.cc, 'cc', max).map(normalizeAddress);
    const bcc = parseRecipients(req.bcc, 'bcc', max).map(normalizeAddress);
    const replyTo = parseRecipients(req.reply_to, 'reply_to', 1).map(normalizeAddress)[0] ?? null;
    const from = req.from === undefined ? null : parseSender(req.from);
    if (from) this.checkSender(from.email, opts.principal);
    const tags = checkTags(req.tags);
    const metadata = checkMetadata(req.metadata);
    const category = req.category === undefined ? undefined : checkCategory(req.category);

    const template = req.template_key === undefined ? null : await this.resolveFor(req);
    // Group commits render from a cached template row, checked again inside the commit.
    const cached = template && this.group ? template.template : undefined;
    const inputs = req.attachments ?? [];
    if (template && inputs.length > 0 && !template.attachmentsAllowed) {
      throw new AppError('attachments_not_allowed', `Template ${template.template.key} does not accept attachments`, {
        template_key: template.template.key,
      });
    }
    const raw = template ? null : this.rawContent(req);
    const attachments = await validateAttachments(
      inputs,
      this.email.allowedAttachmentTypes,
      this.email.maxAttachmentSizeBytes,
    );

    const now = Date.now();
    const sendAt = req.send_at === undefined ? now : parseSendAt(req.send_at, now);
    // Sensitive variables: the archive columns get a masked rendering, the clear one is sealed.
    const { archive, clear } = template
      ? this.templates.renderForSend(template, req.variables ?? {}, new Date(now))
      : { archive: raw!, clear: null };
    const admission: Admission = template
      ? { ...admissionOf(template), category: category ?? template.template.category }
      : { class: raw!.cls, category: category ?? RAW_DEFAULTS.category, locale: null, trustedCategory: false };
    if (template) admission.trustedCategory = admission.category === template.template.category;

    const messages: NewMessage[] = recipients.map((to) => {
      const id = newId();
      return {
        id,
        template_key: template ? template.template.key : null,
        template_version: template ? template.version.version : null,
        locale: template ? template.locale : null,
        category: admission.category,
        class: admission.class,
        source_endpoint: admission.category,
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
        priority: template ? template.template.priority : RAW_DEFAULTS.priority,
        attempts: 0,
        max_attempts: template ? template.template.max_attempts : RAW_DEFAULTS.maxAttempts,
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
        from_email: from?.email ?? null,
        from_name: from?.name ?? null,
        tags: tags ? JSON.stringify(tags) : null,
        metadata,
        source: opts.source ?? (opts.isTest ? 'test' : 'api'),
      };
    });
    return {
      messages,
      attachments,
      admission,
      hooks: opts.hooks,
      ...(cached ? { template: { row: cached, redo: () => this.prepare(req, opts) } } : {}),
    };
  }

  private async resolveFor(req: SendRequest): Promise<ResolvedTemplate> {
    const misplaced = RAW_ONLY.filter((f) => req[f] !== undefined);
    if (misplaced.length > 0) {
      throw new AppError(
        'validation_failed',
        `${misplaced.join(', ')}: only for sends without template_key (a template has its own)`,
        { fields: misplaced },
      );
    }
    const opts = { version: req.template_version, locale: req.locale };
    return this.group
      ? this.templates.resolveCached(req.template_key!, opts)
      : this.templates.resolve(req.template_key!, opts);
  }

  /** A raw send's content: the subject and bodies as given, checked as a template's rendering is. */
  private rawContent(req: SendRequest): { subject: string; html: string; text: string | null; cls: string } {
    const misplaced = TEMPLATE_ONLY.filter((f) => req[f] !== undefined);
    if (misplaced.length > 0) {
      throw new AppError('validation_failed', `${misplaced.join(', ')}: only with template_key`, { fields: misplaced });
    }
    if (req.subject === undefined || req.subject.trim() === '') {
      throw new AppError('validation_failed', 'subject is required without template_key', { field: 'subject' });
    }
    // One header line: refused (not rewritten) if it holds a line break or decodes to something unsafe.
    checkHeaderValue('subject', req.subject);
    const html = req.html ?? '';
    const text = req.text ?? null;
    if (html.trim() === '' && (text === null || text.trim() === '')) {
      throw new AppError('validation_failed', 'html or text is required without template_key', {
        fields: ['html', 'text'],
      });
    }
    for (const [field, v] of [
      ['html', html],
      ['text', text ?? ''],
    ] as const) {
      if (v.length > RAW_BODY_MAX_CHARS || !v.isWellFormed() || v.includes('\u0000')) {
        throw new AppError('validation_failed', `${field}: at most ${RAW_BODY_MAX_CHARS} characters of text, no NUL`, {
          field,
        });
      }
    }
    // A link a mail client would run (javascript:, data:, …) is refused as in a template's rendering.
    if (html !== '') refuseUnsafeUrls(html, {});
    const cls = req.class ?? RAW_DEFAULTS.class;
    // Own keys only: `in` would take `constructor` or `__proto__` from Object's prototype for a class.
    if (!Object.hasOwn(this.email.rateLimits, cls)) {
      throw new AppError('validation_failed', `class: one of ${Object.keys(this.email.rateLimits).join(', ')}`, {
        field: 'class',
        value: cls,
      });
    }
    // Only HTML: the text part is derived as for a template without one. Only text: no HTML part.
    return { subject: req.subject.trim(), html, text: text ?? textFromHtml(html), cls };
  }

  /**
   * Stores units in one transaction (the SQLite commit queue may share it with other requests).
   * `isolate`: when that transaction fails, store each unit alone and report each one's outcome.
   */
  private async commit(units: Unit[], isolate: boolean): Promise<BatchOutcome[]> {
    if (units.length === 0) return [];
    encodeBodiesOf(units);
    if (this.group) {
      const outcomes = await this.group.submit(units);
      this.announce(outcomes.flatMap((o) => (o.ok ? o.items : [])));
      return outcomes;
    }
    const now = Date.now();
    // Large contents are written before the commit, off the event loop; the commit references them.
    await this.content.prewrite(
      this.db,
      units.flatMap((u) => [...(u.contents ?? []), ...u.attachments]),
      now,
    );
    let outcomes: BatchOutcome[];
    try {
      const stored = await this.commits.run((trx) => this.store(trx, units, now));
      outcomes = stored.map((items) => ({ ok: true, items }));
    } catch (error) {
      if (!isolate || units.length === 1) {
        if (!isolate) throw error;
        outcomes = [{ ok: false, error }];
      } else {
        outcomes = [];
        for (const unit of units) {
          try {
            const [items] = await this.commits.run((trx) => this.store(trx, [unit], now));
            outcomes.push({ ok: true, items: items! });
          } catch (e) {
            outcomes.push({ ok: false, error: e });
          }
        }
      }
    }
    this.announce(outcomes.flatMap((o) => (o.ok ? o.items : [])));
    return outcomes;
  }

  /**
   * One group commit (PostgreSQL): every unit of the group in one transaction, with one query
   * per policy and one INSERT per table for all of them. Units rendered from a template row that
   * changed since are left out, prepared again and committed after. If the transaction fails,
   * each unit is committed alone, so the failure stays with the unit that caused it.
   */
  private async runGroup(units: Unit[], redone = 0): Promise<BatchOutcome[]> {
    const now = Date.now();
    let stale = new Set<Unit>();
    let stored: SendResultItem[][] = [];
    try {
      await this.db.transaction().execute(async (trx) => {
        const used = units.flatMap((u) => (u.template ? [u.template.row] : []));
        const changed = used.length > 0 ? await this.templates.changedTemplates(trx, used) : new Set<TemplateRow>();
        stale = new Set(units.filter((u) => u.template && changed.has(u.template.row)));
        stored = await this.store(
          trx,
          units.filter((u) => !stale.has(u)),
          now,
        );
      });
    } catch (error) {
      if (units.length === 1) return [{ ok: false, error }];
      return (await Promise.all(units.map((u) => this.runGroup([u], redone)))).flat();
    }
    const outcomes = new Map<Unit, BatchOutcome>();
    units
      .filter((u) => !stale.has(u))
      .forEach((u, i) => {
        outcomes.set(u, { ok: true, items: stored[i]! });
      });
    if (stale.size > 0) {
      // A template edit committed meanwhile: render again from the new row, and check that one in its commit too.
      const again = await Promise.all(
        [...stale].map(async (u) => {
          try {
            return { u, fresh: await u.template!.redo() };
          } catch (error) {
            outcomes.set(u, { ok: false, error });
            return null;
          }
        }),
      );
      const ready = again.filter((x) => x !== null);
      const results =
        ready.length > 0
          ? await this.runGroup(
              ready.map((x) => x.fresh),
              redone + 1,
            )
          : [];
      ready.forEach((x, i) => {
        outcomes.set(x.u, results[i]!);
      });
    }
    return units.map((u) => outcomes.get(u)!);
  }

  /**
   * SMTP submission: messages made from clients' MIME (one per envelope recipient), each stored
   * with its MIME (`raw`, the content each message's raw_sha256 references) and its attachments,
   * through the same admission policies, commit and first event as send(). Several submitted
   * messages share one commit; if it fails, each is stored alone and gets its own outcome.
   * `hooks` run in the same transaction (the spool row's removal).
   */
  acceptSubmitted(
    inputs: Array<{
      messages: NewMessage[];
      raw: Content;
      attachments: Attachment[];
      admission: Admission;
      hooks?: SendHooks;
    }>,
  ): Promise<BatchOutcome[]> {
    const units = inputs.map(
      (input): Unit => ({
        messages: input.messages,
        attachments: input.attachments,
        admission: input.admission,
        hooks: input.hooks,
        contents: [input.raw],
      }),
    );
    return this.commit(units, true);
  }

  /** After the commit: a worker in this process may lease the new messages at once. */
  private announce(items: SendResultItem[]): void {
    if (items.some((i) => i.status === 'queued')) for (const fn of this.queuedListeners) fn();
  }

  /**
   * The bodies reserveBodies left to insert (PostgreSQL's; SQLite's are in already), the messages
   * and their first events. On PostgreSQL in one statement (the events' insert carries the bodies'
   * and the messages' as CTEs): each round trip costs this process a system call and a wake-up of
   * the server's process, and an accept group is only a few statements.
   */
  private async insertWithEvents(
    trx: Transaction<DB>,
    bodies: BodyRow[],
    messages: NewMessage[],
    events: NewEvent[],
  ): Promise<void> {
    if (this.dialect !== 'postgres') {
      await insertRows(trx, 'email_bodies', bodies);
      await insertRows(trx, 'email_messages', messages);
      await this.events.record(trx, events);
      return;
    }
    await insertRowsTogether(
      trx,
      { table: 'email_bodies', rows: bodies },
      { table: 'email_messages', rows: messages },
      { table: 'email_events', rows: eventRows(events) },
    );
    this.events.recordedElsewhere(events);
  }

  private async store(trx: Transaction<DB>, units: Unit[], now: number): Promise<SendResultItem[][]> {
    for (const u of units) await u.hooks?.before?.(trx);
    // Contents first: the messages reference them (foreign keys).
    const contents = units.flatMap((u) => u.contents ?? []);
    if (contents.length > 0) await this.content.ensure(trx, contents, now);
    // Copies: policies write their verdicts on them, and a failed batch is stored again unit by unit.
    const rows = units.map((u) => u.messages.map((m) => ({ ...m })));
    // A message held for later is judged at its send time (rate limits count it there).
    const admissionOf = (m: NewMessage, a: Admission) =>
      m.next_attempt_at != null && m.next_attempt_at > now ? { ...a, sendAt: m.next_attempt_at } : a;
    const all = units.flatMap((u, i) => rows[i]!.map((m) => ({ m, admission: admissionOf(m, u.admission) })));
    // Admitted in address order: policies that lock per recipient then lock in one order. Each
    // policy judges the messages still admitted after the ones before it, all at once if it can.
    let admitted = [...all].sort((a, b) => (a.m.recipient_email < b.m.recipient_email ? -1 : 1));
    for (const policy of this.policies) {
      if (admitted.length === 0) break;
      const verdicts = policy.admitMany
        ? await policy.admitMany(
            trx,
            admitted.map((x) => ({ recipient: x.m.recipient_email, message: x.admission })),
            now,
          )
        : await sequentially(admitted, (x) => policy.admit(trx, x.m.recipient_email, x.admission, now));
      admitted = admitted.filter(({ m }, i) => {
        const verdict = verdicts[i]!;
        if ('headers' in verdict && verdict.headers) {
          m.headers = JSON.stringify({ ...(m.headers ? (JSON.parse(m.headers) as object) : {}), ...verdict.headers });
        }
        if (verdict.status === 'queued') return true;
        m.status = verdict.status;
        m.next_attempt_at = null;
        m.error_message = ('reason' in verdict ? verdict.reason : undefined) ?? null;
        // Never sent, so the clear content has no reader: do not keep it.
        m.sealed_content = null;
        return false;
      });
    }
    const messages = all.map((x) => x.m);
    // Admitted for later: held as `scheduled` (no lease, no queue age) until the promoter makes it due.
    for (const m of messages) {
      const held = m.status === 'queued' && m.next_attempt_at! > now;
      if (held) m.status = 'scheduled';
      // Every row has the column, so one insert statement serves them all.
      m.send_at = held ? m.next_attempt_at : null;
    }
    // Bodies go to email_bodies, compressed, once per rendering (content/bodies.ts).
    const bodies = await reserveBodies(
      trx,
      messages,
      this.dialect,
      units.flatMap((u) => u.bodies ?? []),
      this.bodyIds,
    );
    const events: NewEvent[] = messages.map((m) => ({
      messageId: m.id,
      type: m.status,
      at: now,
      data: {
        template_key: m.template_key,
        template_version: m.template_version,
        locale: m.locale,
        category: m.category,
        ...(m.source && m.source !== 'api' ? { source: m.source } : {}),
        ...(m.from_email ? { from: m.from_email } : {}),
        ...(m.resent_from_id ? { resent_from: m.resent_from_id } : {}),
        ...(m.status !== 'queued' && m.status !== 'scheduled' ? { reason: m.error_message } : {}),
        ...(m.status === 'scheduled' ? { send_at: new Date(m.next_attempt_at!).toISOString() } : {}),
        ...(m.is_test ? { test: true } : {}),
      },
      labels: { template_key: m.template_key ?? null, category: m.category, created_at: m.created_at },
    }));
    await this.insertWithEvents(trx, bodies, messages, events);
    const attachmentRows = units.flatMap((u, i) =>
      rows[i]!.flatMap((m) =>
        u.attachments.map((a) => ({
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
    );
    if (attachmentRows.length > 0) {
      // The contents first (the references are foreign keys), then one small row per message.
      await this.content.ensure(
        trx,
        units.flatMap((u) => u.attachments),
        now,
      );
      await insertRows(trx, 'email_attachments', attachmentRows);
    }
    const results: SendResultItem[][] = [];
    for (const [i, u] of units.entries()) {
      const items = rows[i]!.map((m) => ({ id: m.id, to: m.recipient_email, status: m.status as MessageStatus }));
      await u.hooks?.after?.(trx, items);
      results.push(items);
    }
    return results;
  }
}

/**
 * Compresses the rendering of each unit before its commit, not inside the transaction that holds
 * SQLite's write lock; a rendering shared by several units (the items of a batch) once. The
 * messages of a unit carry one rendering. Units prepared again later (a template edited
 * meanwhile) are compressed by storeBodies itself.
 */
function encodeBodiesOf(units: Unit[]): void {
  const pending = units.filter((u) => u.bodies === undefined && u.messages.length > 0);
  const encoded = encodeAllAhead(
    pending.map((u) => ({ html: u.messages[0]!.html_content ?? null, text: u.messages[0]!.text_content ?? null })),
  );
  pending.forEach((u, i) => {
    u.bodies = [encoded[i]!];
  });
}

async function sequentially<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) out.push(await fn(item));
  return out;
}
