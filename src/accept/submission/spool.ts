/**
 * The submission spool. A message submitted over SMTP is checked (bytes, header, sender,
 * options), given its message ids, and stored raw in `submission_spool` in the durable commit
 * that precedes its `250`, as a mail server writes its queue file before answering. Turning it
 * into its messages (parsing the MIME, the archive's parts and attachments, admission, the
 * `queued` events) is the spool ingester's work, a moment later, in batches of up to 50 that
 * share one commit: a commit per submitted message wrote most of the same index pages to the
 * WAL again for each one. Each row is leased while it is ingested and deleted in the
 * transaction that inserts its messages, so a crash leaves it spooled, never half archived, and
 * the ids given in the `250` are the ids its messages get. Any process's ingester takes rows
 * left by one that stopped (after their lease, 60 s).
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Insertable, Kysely, Transaction } from 'kysely';
import { sql } from 'kysely';
import type { AddressObject, ParsedMail } from 'mailparser';
import type pino from 'pino';
import type { Config } from '../../platform/config.js';
import type { CommitQueue } from '../../platform/db/commit-queue.js';
import type { Dialect } from '../../platform/db/database.js';
import { likeContaining } from '../../platform/db/like.js';
import { insertRows } from '../../platform/db/reused-sql.js';
import {
  type DB,
  type NewMessage,
  type SpoolRow,
  SUSPECT_ATTEMPTS,
  spoolRowFailing,
  type SubmissionSpoolTable,
} from '../../platform/db/schema.js';
import { fieldValue, splitHeader } from '../../platform/mime-fields.js';
import { storable, storableCut } from '../../platform/storable.js';
import { isValidAddress, normalizeAddress } from '../addresses.js';
import type { Attachment } from '../attachments.js';
import type { SendService } from '../send.service.js';
import { PolledPass } from '../../platform/polled-pass.js';
import { submissionArchived, submissionFlowDelaySeconds, submissionFlowDelays } from './metrics.js';
import { SmtpReply } from './replies.js';

export type NewSpoolRow = Insertable<SubmissionSpoolTable>;

/** The X-Postier-* options a spooled message keeps for its ingestion. */
export interface SpooledOptions {
  category?: string;
  tags?: string[];
  metadata?: Record<string, string | number | boolean | null>;
  /**
   * The X-Postier-Idempotency-Key the message came with, and its scope (the key's owner): a
   * dropped message's key is forgotten with it, so that the client's retry is stored, not
   * answered with the 250 of a message that will never exist.
   */
  idempotency?: { scope: string; key: string };
}

/** Work of the caller in the spooling transaction (an idempotency key). */
export interface SpoolHooks {
  before(trx: Transaction<DB>): Promise<void>;
  after(trx: Transaction<DB>): Promise<void>;
}

/** mailparser, loaded with the first message (a dynamic import per message showed in the profile). */
let parser: Promise<typeof import('mailparser')> | undefined;
export const loadParser = () => (parser ??= import('mailparser'));

/**
 * Flow control, as Postfix's in_flow_delay: when the spool's oldest waiting message is older than
 * SUBMISSION_SPOOL_MAX_AGE_SECONDS (messages arrive faster than they are stored), a new message's
 * 250 is held back until the spool catches up or SUBMISSION_FLOW_DELAY_MS has passed, so the
 * senders slow down to the rate messages are stored and the time between a 250 and the message's
 * delivery stays bounded. Messages that failed to be stored do not count (they wait for their
 * retry, not for the ingester). The spool's age is read at most every 200 ms, whatever the load.
 */
export class SpoolFlow {
  private reading: Promise<number | null> | undefined;
  private readAt = 0;
  private oldest: number | null = null;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly opts: { maxAgeMs: number; maxDelayMs: number },
  ) {}

  /** Resolves when this message may be spooled: at once, or once the spool is young enough, or at the longest delay. */
  async admit(): Promise<void> {
    if (this.opts.maxAgeMs === 0 || !(await this.tooOld())) return;
    const start = Date.now();
    submissionFlowDelays.inc();
    while (Date.now() - start < this.opts.maxDelayMs) {
      await sleep(Math.max(1, Math.min(50, this.opts.maxDelayMs - (Date.now() - start))));
      if (!(await this.tooOld())) break;
    }
    submissionFlowDelaySeconds.inc((Date.now() - start) / 1000);
  }

  private async tooOld(): Promise<boolean> {
    const now = Date.now();
    if (now - this.readAt >= 200) {
      this.reading ??= this.db
        .selectFrom('submission_spool')
        .select('received_at')
        .where((eb) => eb.not(spoolRowFailing(eb)))
        .orderBy('id')
        .limit(1)
        .executeTakeFirst()
        .then((r) => (r ? Number(r.received_at) : null))
        // Flow control never refuses: a failed read holds nothing back (the spooling says what is wrong).
        .catch(() => null)
        .finally(() => {
          this.reading = undefined;
          this.readAt = Date.now();
        });
      this.oldest = await this.reading;
    }
    return this.oldest !== null && now - this.oldest > this.opts.maxAgeMs;
  }
}

/** Writes spooled messages: each resolves once its row is committed and on disk. */
export class SubmissionSpool {
  private readonly flow: SpoolFlow;

  constructor(
    private readonly deps: {
      db: Kysely<DB>;
      commits: CommitQueue;
      dialect: Dialect;
      config: Pick<Config, 'submission'>;
    },
    /** Rung after each spooled message: the ingester of this process looks at once. */
    private readonly onSpooled: () => void = () => {},
  ) {
    const { spoolMaxAgeMs, flowDelayMs } = deps.config.submission;
    this.flow = new SpoolFlow(deps.db, { maxAgeMs: spoolMaxAgeMs, maxDelayMs: flowDelayMs });
  }

  /**
   * Flow control's wait, before a message is spooled; then, if the client went away meanwhile
   * (`gone`), nothing is spooled: it never saw a 250 and will send the message again.
   */
  async admit(gone?: () => boolean): Promise<void> {
    await this.flow.admit();
    if (gone?.())
      throw new SmtpReply(421, '4.4.2', 'disconnected', 'The client went away before its message was spooled');
  }

  async put(row: NewSpoolRow, hooks?: SpoolHooks): Promise<void> {
    if (!hooks && this.deps.dialect === 'postgres') {
      // One statement, committed on its own: one round trip instead of three.
      await insertRows(this.deps.db, 'submission_spool', [row]);
    } else {
      // SQLite: the commit queue shares one commit and one WAL fsync among the sessions of the turn.
      await this.deps.commits.run(async (trx) => {
        await hooks?.before(trx);
        await insertRows(trx, 'submission_spool', [row]);
        await hooks?.after(trx);
      });
    }
    this.onSpooled();
  }
}

/**
 * Right to erasure: an address's messages still in the spool are never stored. Their rows lose
 * the address (and its message id), a row left with no recipient is deleted, and a row being
 * stored loses its lease: its ingester's transaction then rolls back (the row's removal checks
 * the lease) and the row is stored again as it is now. Run inside the erasure's transaction,
 * before it looks for the address's messages (on PostgreSQL the update waits for an ingester
 * that holds the row, whose messages the erasure then finds). Returns the messages removed.
 */
export async function eraseFromSpool(trx: Transaction<DB>, lowerAddress: string): Promise<number> {
  const rows = await trx
    .selectFrom('submission_spool')
    .select(['id', 'recipients', 'message_ids'])
    .where(sql<string>`lower(recipients)`, 'like', likeContaining(lowerAddress))
    .execute();
  let removed = 0;
  for (const r of rows) {
    const recipients = JSON.parse(r.recipients) as string[];
    const ids = JSON.parse(r.message_ids) as string[];
    const kept = recipients.flatMap((a, i) => (a.toLowerCase() === lowerAddress ? [] : [[a, ids[i]!] as const]));
    if (kept.length === recipients.length) continue;
    removed += recipients.length - kept.length;
    if (kept.length === 0) await trx.deleteFrom('submission_spool').where('id', '=', r.id).execute();
    else
      await trx
        .updateTable('submission_spool')
        .set({
          recipients: JSON.stringify(kept.map(([a]) => a)),
          message_ids: JSON.stringify(kept.map(([, id]) => id)),
          lease_owner: null,
          lease_expires_at: null,
        })
        .where('id', '=', r.id)
        .execute();
  }
  return removed;
}

const firstAddress = (a: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((o) => o.value).find((v) => v.address)?.address;

/** What the archive keeps of a submitted message besides its MIME: the same columns as templated mail, and the attachments. */
export interface ArchivedParts {
  subject: string;
  text: string | null;
  html: string | null;
  attachments: Attachment[];
  fromName: string | null;
  replyTo: string | null;
}

/** mailparser's reading of the whole message. */
/** message_attachments' columns: filename varchar(255), content_type varchar(100). */
const FILENAME_MAX = 255;
const CONTENT_TYPE_MAX = 100;

/**
 * What mailparser read, as the archive can store it. The checks before the 250 read the raw
 * bytes; what encoded words and RFC 2231 parameters decode to is only known here, after the 250,
 * and must not keep an accepted message out of the archive: a NUL or an unpaired surrogate in the
 * subject, the From name or a file name becomes U+FFFD, and a file name or content type longer
 * than its column is cut (the raw MIME, archived and delivered as received, keeps them whole).
 */
function partsOf(parsed: ParsedMail): ArchivedParts {
  const replyTo = firstAddress(parsed.replyTo);
  const fromName = parsed.from?.value.find((v) => v.address)?.name;
  return {
    subject: storable(parsed.subject ?? ''),
    text: parsed.text ?? null,
    html: typeof parsed.html === 'string' ? parsed.html : null,
    attachments: parsed.attachments.map((a, i) => ({
      filename: storableCut(a.filename ?? `attachment-${i + 1}`, FILENAME_MAX),
      contentType:
        a.contentType && a.contentType.length <= CONTENT_TYPE_MAX
          ? storable(a.contentType)
          : 'application/octet-stream',
      data: a.content,
      sha256: createHash('sha256').update(a.content).digest('hex'),
    })),
    fromName: fromName ? storable(fromName) : null,
    replyTo: replyTo && isValidAddress(replyTo) ? normalizeAddress(replyTo) : null,
  };
}

/**
 * A message mailparser cannot read (it first reads it here, after the 250): the message is
 * still archived and delivered as received (its MIME is what goes out), with the Subject field as
 * written and no extracted parts.
 */
function headerOnlyParts(raw: Buffer): ArchivedParts {
  const subject = splitHeader(raw).fields.find((f) => f.key === 'subject');
  return {
    subject: subject ? fieldValue(subject) : '',
    text: null,
    html: null,
    attachments: [],
    fromName: null,
    replyTo: null,
  };
}

export interface IngestDeps {
  db: Kysely<DB>;
  dialect: Dialect;
  send: Pick<SendService, 'acceptSubmitted'>;
  config: Pick<Config, 'email' | 'smtp'>;
  log: pino.Logger;
}

export interface IngestOptions {
  owner: string;
  /** Spooled messages per commit (50: 100 stored no faster in the submission bench, and a batch holds the event loop about twice as long). */
  batchSize?: number;
  /** How often the spool is looked at without being rung (1 s): rows of another process, retries. */
  pollMs?: number;
  /** How long a leased row stays this ingester's (60 s): a crashed one's rows are taken again after it. */
  leaseMs?: number;
  /** Batches in hand at once (2): one is leased and parsed while another is stored. */
  lanes?: number;
}

/** A row that could not be stored is tried again after this long, then twice as long each time, up to 10 minutes. */
const retryDelayMs = (attempts: number) => Math.min(10 * 60_000, 5_000 * 2 ** Math.max(0, attempts - 1));

/**
 * Turns spooled messages into their messages (one per envelope recipient, with the ids their 250
 * named) through the accept service's admission, commit and first event, a batch per commit.
 * A row whose batch fails is stored alone; one that still fails keeps its place in the spool with
 * the error and is tried again later (never dropped: it was accepted).
 */
export class SpoolIngester {
  private readonly passes: PolledPass;
  /** stop() was called: a pass in progress ends after the batch in hand. */
  private stopping = false;

  constructor(
    private readonly deps: IngestDeps,
    private readonly opts: IngestOptions,
  ) {
    this.passes = new PolledPass(
      () => this.drain(),
      (err) => this.deps.log.error({ err }, 'submission spool: a pass failed'),
      opts.pollMs ?? 1000,
    );
  }

  start(): void {
    this.stopping = false;
    this.passes.start();
  }

  /** Messages were spooled: look now rather than at the next poll. */
  notify(): void {
    this.passes.notify();
  }

  /** Ends after the batch in hand; what is left stays spooled for the next ingester. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.passes.stop();
  }

  /**
   * Before start(), when this ingester takes over from a predecessor of the same owner that died
   * (the ingester thread of `postier serve`, started again): the rows it had leased are due now
   * rather than after their lease. Its transaction ended with it, so nobody is storing them.
   * Their `attempts` stay counted: a message that kills its ingester becomes a suspect, taken alone.
   */
  async reclaim(): Promise<number> {
    const r = await this.deps.db
      .updateTable('submission_spool')
      .set({ lease_owner: null, lease_expires_at: null })
      .where('lease_owner', '=', this.opts.owner)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Resolves once no pass runs and nothing due waits in the spool (tests wait for it). */
  async settled(): Promise<void> {
    while (!this.passes.isStopped) {
      await this.passes.current;
      const now = Date.now();
      const due = await this.deps.db
        .selectFrom('submission_spool')
        .select('id')
        .where((w) => w.or([w('lease_expires_at', 'is', null), w('lease_expires_at', '<', now)]))
        .limit(1)
        .executeTakeFirst();
      if (!due && !this.passes.current) return;
      this.passes.notify();
      await this.passes.current;
    }
  }

  /**
   * Takes and stores batches until the spool has nothing due; returns how many rows were stored.
   * Its lanes each take a batch and store it, so one is leased and parsed while another waits for
   * its commit (each lane's lease takes other rows: they are leased once taken).
   */
  async drain(): Promise<number> {
    const totals = await Promise.all(Array.from({ length: Math.max(1, this.opts.lanes ?? 2) }, () => this.lane()));
    return totals.reduce((a, b) => a + b, 0);
  }

  private async lane(): Promise<number> {
    let total = 0;
    for (;;) {
      if (this.stopping) return total;
      let rows = await this.lease(false);
      if (rows.length === 0) rows = await this.lease(true);
      if (rows.length === 0) return total;
      const { parse } = await parserOf();
      const inputs = await Promise.all(rows.map(async (row) => this.inputOf(row, await parse(row.raw))));
      const outcomes = await this.deps.send.acceptSubmitted(inputs);
      for (const [i, o] of outcomes.entries()) {
        const row = rows[i]!;
        if (o.ok) {
          total++;
          submissionArchived.inc({ result: 'stored' }, o.items.length);
        } else await this.failed(row, o.error);
      }
    }
  }

  /**
   * Rows taken fewer than SUSPECT_ATTEMPTS times, a batch of them; or else one suspect row alone
   * (taken that often and still here: its ingester failed or died each time, as a message that
   * crashes the process would make it), so it never takes a batch of good rows down with it.
   */
  private async lease(suspects: boolean): Promise<SpoolRow[]> {
    const { db, dialect } = this.deps;
    const now = Date.now();
    return db
      .updateTable('submission_spool')
      .set({
        lease_owner: this.opts.owner,
        lease_expires_at: now + (this.opts.leaseMs ?? 60_000),
        attempts: sql<number>`attempts + 1`,
      })
      .where('id', 'in', (eb) => {
        const due = eb
          .selectFrom('submission_spool')
          .select('id')
          .where((w) => w.or([w('lease_expires_at', 'is', null), w('lease_expires_at', '<', now)]))
          .where('attempts', suspects ? '>=' : '<', SUSPECT_ATTEMPTS)
          .orderBy('id')
          .limit(suspects ? 1 : (this.opts.batchSize ?? 50));
        return dialect === 'postgres' ? due.forUpdate().skipLocked() : due;
      })
      .returningAll()
      .execute()
      .then((rows) => rows.sort((a, b) => Number(a.id) - Number(b.id)));
  }

  private inputOf(row: SpoolRow, parts: ArchivedParts): Parameters<IngestDeps['send']['acceptSubmitted']>[0][number] {
    const { config } = this.deps;
    const options = (row.options ? JSON.parse(row.options) : {}) as SpooledOptions;
    const recipients = JSON.parse(row.recipients) as string[];
    const ids = JSON.parse(row.message_ids) as string[];
    const category = options.category ?? 'smtp';
    // A category named like a sending class (marketing, …) is that class: its rate limit and unsubscribe headers apply.
    const cls = Object.hasOwn(config.email.rateLimits, category) ? category : 'transactional';
    const rawSha = createHash('sha256').update(row.raw).digest('hex');
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
      reply_to: parts.replyTo,
      headers: null,
      subject: parts.subject,
      html_content: parts.html,
      text_content: parts.text,
      attachments_count: parts.attachments.length,
      status: 'queued',
      priority: 5,
      attempts: 0,
      max_attempts: config.smtp.retryMaxAttempts,
      next_attempt_at: Number(row.send_at),
      lease_owner: null,
      lease_expires_at: null,
      smtp_message_id: row.smtp_message_id,
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
      api_key_id: row.api_key_id,
      from_email: row.from_email,
      from_name: parts.fromName,
      tags: options.tags ? JSON.stringify(options.tags) : null,
      metadata: options.metadata ? JSON.stringify(options.metadata) : null,
      raw_sha256: rawSha,
      created_at: Number(row.received_at),
      updated_at: Number(row.received_at),
    }));
    return {
      messages,
      raw: { sha256: rawSha, data: row.raw },
      attachments: parts.attachments,
      // The category came from the client's X-Postier-Category: never one that may bypass suppressions.
      admission: { category, class: cls, locale: config.email.defaultLocale, trustedCategory: false },
      hooks: {
        // Gone with the commit that stores its messages; still ours, or another ingester has it now.
        after: async (trx) => {
          const r = await trx
            .deleteFrom('submission_spool')
            .where('id', '=', row.id)
            .where('lease_owner', '=', this.opts.owner)
            .executeTakeFirst();
          if (Number(r.numDeletedRows) !== 1) throw new Error('the spooled message was leased by another ingester');
        },
      },
    };
  }

  private async failed(row: SpoolRow, error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    const r = await this.deps.db
      .updateTable('submission_spool')
      .set({
        lease_owner: null,
        // Not before then: the lease query takes rows whose lease time has passed.
        lease_expires_at: Date.now() + retryDelayMs(row.attempts),
        last_error: message.slice(0, 2000),
      })
      .where('id', '=', row.id)
      .where('lease_owner', '=', this.opts.owner)
      .executeTakeFirst();
    // Not ours any more (an erasure changed it, another ingester took it after our lease): whoever has it now stores it.
    if (Number(r.numUpdatedRows) === 0) return;
    submissionArchived.inc({ result: 'retried' });
    this.deps.log.error(
      { err: error, spool_id: Number(row.id), attempts: row.attempts },
      'submission spool: a spooled message could not be stored; it stays spooled and is tried again',
    );
  }
}

/** mailparser on the whole message, or the header alone when it cannot read the body. */
async function parserOf(): Promise<{ parse(raw: Buffer): Promise<ArchivedParts> }> {
  const { simpleParser } = await loadParser();
  return {
    async parse(raw) {
      try {
        return partsOf(await simpleParser(raw, { skipTextToHtml: true, skipHtmlToText: true, skipImageLinks: true }));
      } catch {
        return headerOnlyParts(raw);
      }
    },
  };
}
