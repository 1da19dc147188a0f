import type { Kysely } from 'kysely';
import type pino from 'pino';
import type { Config } from '../platform/config.js';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import { HOUR_MS } from '../platform/time.js';
import { CursorMoved, WebhookEnqueuer } from './enqueue.js';
import { sign } from './signing.js';

type Post = (url: string, init: RequestInit) => Promise<Response>;

interface Due {
  id: string;
  payload: string;
  attempts: number;
  next_attempt_at: number | null;
  url: string;
  secret: string;
}

export interface WebhookDispatcherOptions {
  /** Names this process in the lease of the event-log tail (job_locks). */
  owner: string;
  batchSize?: number;
}

/** After a ring, the loop polls this often for a while: the ringing transaction commits a moment later. */
const RUNG_POLL_MS = 50;
const RUNG_FOR_MS = 1000;

/**
 * Enqueues webhook deliveries from the event log (WebhookEnqueuer), then delivers the due ones:
 * POST, signed, retried with exponential backoff (×3 from WEBHOOK_RETRY_BASE_SECONDS, capped at
 * 6 h) up to WEBHOOK_MAX_ATTEMPTS, every attempt recorded. Any number of processes may run it:
 * one at a time tails the log, and a delivery is claimed by a conditional update that pushes its
 * due time past the attempt, so one process sends it (at least once on crash).
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = true;
  private rungUntil = 0;
  private readonly batchSize: number;
  readonly enqueuer: WebhookEnqueuer;
  post: Post = (url, init) => globalThis.fetch(url, init);

  constructor(
    private readonly db: Kysely<DB>,
    dialect: Dialect,
    private readonly config: Config['outboundWebhooks'],
    private readonly log: pino.Logger,
    opts: WebhookDispatcherOptions,
  ) {
    this.batchSize = opts.batchSize ?? 20;
    this.enqueuer = new WebhookEnqueuer(db, dialect, { owner: opts.owner });
  }

  /**
   * One pass: enqueue from the log what endpoints subscribed to, then attempt what is due at
   * `now`; returns how many deliveries were attempted.
   */
  async runOnce(now = Date.now()): Promise<number> {
    try {
      await this.enqueuer.run();
    } catch (err) {
      // The deliveries already enqueued still go out; the tail is tried again next pass.
      if (err instanceof CursorMoved) this.log.warn({ err }, 'webhook enqueue pass undone');
      else this.log.error({ err }, 'webhook enqueue pass failed');
    }
    return this.deliverDue(now);
  }

  /**
   * An event someone may subscribe to was recorded in this process (the event log's subscriber):
   * poll soon, rather than at the next WEBHOOK_POLL_MS, until the recording transaction commits.
   */
  ring(): void {
    if (this.stopped) return;
    this.rungUntil = Date.now() + RUNG_FOR_MS;
    if (this.timer && !this.running) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.loop(), RUNG_POLL_MS);
    }
  }

  private async deliverDue(now: number): Promise<number> {
    const due: Due[] = await this.db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
      .select(['d.id', 'd.payload', 'd.attempts', 'd.next_attempt_at', 'e.url', 'e.secret'])
      .where('d.status', '=', 'pending')
      .where('d.next_attempt_at', '<=', now)
      // A paused endpoint's pending deliveries wait for it to be resumed.
      .where('e.is_active', '=', 1)
      .orderBy('d.next_attempt_at')
      .limit(this.batchSize)
      .execute();
    const claimed: Due[] = [];
    for (const d of due) {
      const r = await this.db
        .updateTable('webhook_deliveries')
        .set({ next_attempt_at: now + this.config.timeoutMs + 60_000 })
        .where('id', '=', d.id)
        .where('status', '=', 'pending')
        .where('next_attempt_at', '=', d.next_attempt_at)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) > 0) claimed.push(d);
    }
    await Promise.all(claimed.map((d) => this.attempt(d)));
    return claimed.length;
  }

  private async attempt(d: Due): Promise<void> {
    const started = Date.now();
    const timestamp = Math.floor(started / 1000);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await this.post(d.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Postier-Webhooks/1',
          'webhook-id': d.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': sign(d.secret, d.id, timestamp, d.payload),
        },
        body: d.payload,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
      status = res.status;
      await res.body?.cancel().catch(() => {});
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (e) {
      error =
        (e as Error).name === 'TimeoutError'
          ? `timeout after ${this.config.timeoutMs} ms`
          : String((e as Error).cause ?? (e as Error).message);
    }
    const finished = Date.now();
    const attempts = d.attempts + 1;
    const ok = error === null;
    const giveUp = !ok && attempts >= this.config.maxAttempts;
    const delay = Math.min(this.config.retryBaseMs * 3 ** (attempts - 1), 6 * HOUR_MS);
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('webhook_attempts')
        .values({
          delivery_id: d.id,
          attempted_at: started,
          status_code: status,
          duration_ms: finished - started,
          error,
        })
        .execute();
      await trx
        .updateTable('webhook_deliveries')
        .set({
          attempts,
          status: ok ? 'delivered' : giveUp ? 'failed' : 'pending',
          next_attempt_at: ok || giveUp ? null : finished + delay,
          last_status_code: status,
          last_error: error,
          completed_at: ok || giveUp ? finished : null,
        })
        .where('id', '=', d.id)
        .execute();
    });
    if (!ok) this.log.warn({ delivery: d.id, url: d.url, attempts, error, gave_up: giveUp }, 'webhook delivery failed');
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.loop();
  }

  private async loop(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    let n = 0;
    this.running = this.runOnce().then(
      (count) => (n = count),
      (e: unknown) => this.log.error({ err: e }, 'webhook dispatcher pass failed'),
    );
    await this.running;
    this.running = null;
    if (this.stopped) return;
    const wait = n > 0 ? 0 : Date.now() < this.rungUntil ? RUNG_POLL_MS : this.config.pollMs;
    this.timer = setTimeout(() => void this.loop(), wait);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
