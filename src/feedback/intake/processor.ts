/**
 * Classifies the pending reports and applies what they say, off the API's event loop: it runs
 * beside the delivery worker (its thread in `postier serve`, the loop of a `postier worker`
 * process). Each report is leased (several workers never take one twice; a worker that dies
 * lets its lease expire and another takes the report again), classified outside any
 * transaction (CPU only, bounded by the classifier's limits), then marked classified and
 * applied with the rest of its batch in one transaction, so a crash leaves it pending, never
 * half applied.
 */
import type { Kysely, Transaction } from 'kysely';
import { sql } from 'kysely';
import type pino from 'pino';
import type { EventLog } from '../../events/index.js';
import type { Config } from '../../platform/config.js';
import type { Dialect } from '../../platform/db/database.js';
import type { DB, FeedbackReportRow } from '../../platform/db/schema.js';
import { applyFeedback } from '../apply.js';
import { classifyReport } from '../classify.js';
import { eventsFromReport } from '../report-events.js';
import { verpKey, verpMessageId } from '../return-path.js';
import { matchReport } from './match.js';
import { PolledPass } from '../../platform/polled-pass.js';
import { cutWhole } from '../../platform/storable.js';
import { storableValues } from '../untrusted.js';

/** After this many failed tries a report is `failed` (kept, shown to an admin) instead of pending. */
export const MAX_REPORT_ATTEMPTS = 5;

export interface ProcessorDeps {
  db: Kysely<DB>;
  dialect: Dialect;
  events: EventLog;
  config: Config;
  log: pino.Logger;
}

export interface ProcessorOptions {
  owner: string;
  batchSize?: number;
  pollMs?: number;
}

export class FeedbackProcessor {
  private readonly passes: PolledPass;
  /** stop() was called: a pass in progress ends after the batch in hand (at most 50 reports, one transaction). */
  private stopping = false;
  private readonly key: Buffer;
  processed = 0;

  constructor(
    private readonly deps: ProcessorDeps,
    private readonly opts: ProcessorOptions,
  ) {
    this.key = verpKey(deps.config);
    this.passes = new PolledPass(
      () => this.drain(),
      (err) => this.deps.log.error({ err }, 'feedback processor pass failed'),
      opts.pollMs ?? 1000,
    );
  }

  start(): void {
    this.passes.start();
  }

  /** Reports were stored: look now rather than at the next poll. */
  notify(): void {
    this.passes.notify();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.passes.stop();
  }

  /**
   * Takes and handles batches until none is pending; returns how many were handled. A batch is
   * classified report by report, then applied in one transaction (one commit for up to
   * `batchSize` reports); if that transaction fails, each report is applied in its own, so one
   * bad report holds back none of the others.
   */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      if (this.stopping) return total;
      const batch = await this.lease();
      if (batch.length === 0) return total;
      const ready: Classified[] = [];
      for (const r of batch) {
        try {
          ready.push(await this.classify(r));
        } catch (err) {
          await this.failed(r, err);
        }
      }
      try {
        const applied = await this.deps.db.transaction().execute(async (trx) => {
          let n = 0;
          for (const c of ready) if (await this.apply(trx, c)) n++;
          return n;
        });
        this.processed += applied;
      } catch (groupErr) {
        this.deps.log.warn(
          { err: groupErr, reports: ready.length },
          'feedback: a batch failed; applying its reports one by one',
        );
        for (const c of ready) await this.applyAlone(c);
      }
      total += batch.length;
    }
  }

  private async lease(): Promise<FeedbackReportRow[]> {
    const { db, dialect, config } = this.deps;
    const now = Date.now();
    return db
      .updateTable('feedback_reports')
      .set({
        lease_owner: this.opts.owner,
        lease_expires_at: now + config.feedback.leaseSeconds * 1000,
        attempts: sql<number>`attempts + 1`,
      })
      .where('state', '=', 'pending')
      .where('id', 'in', (eb) => {
        const due = eb
          .selectFrom('feedback_reports')
          .select('id')
          .where('state', '=', 'pending')
          .where((w) => w.or([w('lease_expires_at', 'is', null), w('lease_expires_at', '<', now)]))
          .orderBy('received_at')
          .limit(this.opts.batchSize ?? 50);
        return dialect === 'postgres' ? due.forUpdate().skipLocked() : due;
      })
      .returningAll()
      .execute();
  }

  /** Classifies and applies one leased report; a failure leaves it pending (or failed after the last try). */
  async handle(r: FeedbackReportRow): Promise<void> {
    let c: Classified;
    try {
      c = await this.classify(r);
    } catch (err) {
      return this.failed(r, err);
    }
    await this.applyAlone(c);
  }

  /** CPU and reads, outside any transaction: what the report says and which message it is about. */
  private async classify(r: FeedbackReportRow): Promise<Classified> {
    const { db, config } = this.deps;
    // What a report says is stored in text columns: no NUL (PostgreSQL refuses it), no unpaired surrogate.
    const c = storableValues(classifyReport(r.raw, { envelopeFrom: r.envelope_from }));
    const envelopeTo = r.envelope_to ? (JSON.parse(r.envelope_to) as string[]) : [];
    const match = await matchReport(db, c, envelopeTo, (a) => verpMessageId(config, this.key, a));
    return { r, c, match };
  }

  private async applyAlone(x: Classified): Promise<void> {
    try {
      if (await this.deps.db.transaction().execute((trx) => this.apply(trx, x))) this.processed++;
    } catch (err) {
      await this.failed(x.r, err);
    }
  }

  /** Marks the report classified and applies its events in `trx`; false when another worker owns it now. */
  private async apply(trx: Transaction<DB>, { r, c, match }: Classified): Promise<boolean> {
    const { events, config } = this.deps;
    const now = Date.now();
    const claimed = await trx
      .updateTable('feedback_reports')
      .set({
        state: 'classified',
        classified_at: now,
        lease_owner: null,
        lease_expires_at: null,
        kind: c.kind,
        category: c.category,
        recipient: c.recipient === null ? null : cutWhole(c.recipient, 320),
        status_code: c.status === null ? null : cutWhole(c.status, 20),
        diagnostic: c.diagnostic === null ? null : cutWhole(c.diagnostic, 2000),
        reason: cutWhole(c.reason, 100),
        classification: JSON.stringify(c),
        message_id: match.message?.id ?? null,
        match_method: match.method,
        error: null,
      })
      .where('id', '=', r.id)
      .where('state', '=', 'pending')
      .where('lease_owner', '=', this.opts.owner)
      .executeTakeFirst();
    // Its lease expired and another worker took it: that one applies it.
    if (Number(claimed.numUpdatedRows) === 0) return false;
    const suppressed: string[] = [];
    for (const event of eventsFromReport(c, { at: r.received_at, dedupeKey: `report:${r.id}` })) {
      // The same bounce in other bytes (received by SMTP and again through the mailbox, which adds
      // its own headers; a relay that writes its notice again; a copy with a header changed) is
      // another report but the same event: once per message, recipient, kind and finality.
      const m = match.message;
      const e = m
        ? {
            ...event,
            dedupeId: `report:${m.id}:${event.kind}:${event.final ? 'final' : 'not_final'}:${event.recipient ?? ''}`,
          }
        : event;
      const a = await applyFeedback(trx, events, config.feedback, e, {
        source: 'report',
        sourceEvent: `report:${r.id}`,
        reportId: r.id,
        feedbackId: c.report.messageId,
        message: match.message,
        now,
        extra: { reason: c.reason, format: c.format, match_method: match.method, feedback_type: c.feedbackType },
      });
      suppressed.push(...a.suppressed);
    }
    if (suppressed.length)
      await trx
        .updateTable('feedback_reports')
        .set({ suppressed: JSON.stringify(suppressed) })
        .where('id', '=', r.id)
        .execute();
    return true;
  }

  /** A report that could not be handled: pending again after a while, or failed after the last try. */
  private async failed(r: FeedbackReportRow, err: unknown): Promise<void> {
    const { db, log } = this.deps;
    const last = r.attempts >= MAX_REPORT_ATTEMPTS;
    log.error(
      { err, report_id: r.id, attempts: r.attempts },
      last ? 'feedback report failed' : 'feedback report will be retried',
    );
    await db
      .updateTable('feedback_reports')
      .set({
        state: last ? 'failed' : 'pending',
        error: (err instanceof Error ? err.message : String(err)).slice(0, 1000),
        lease_owner: null,
        // Tried again after a while, not in a tight loop.
        lease_expires_at: Date.now() + 5000 * r.attempts,
      })
      .where('id', '=', r.id)
      .where('lease_owner', '=', this.opts.owner)
      .execute()
      .catch((e: unknown) => log.error({ err: e, report_id: r.id }, 'could not record a feedback report failure'));
  }
}

interface Classified {
  r: FeedbackReportRow;
  c: ReturnType<typeof classifyReport>;
  match: Awaited<ReturnType<typeof matchReport>>;
}
