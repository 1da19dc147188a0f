import type { Kysely } from 'kysely';
import type pino from 'pino';
import type { Config } from '../platform/config.js';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import { HOUR_MS } from '../platform/time.js';
import { CursorMoved, WebhookEnqueuer } from './enqueue.js';
import { endpointsPaused } from './metrics.js';
import { sign } from './signing.js';

type Post = (url: string, init: RequestInit) => Promise<Response>;

interface Due {
  id: string;
  endpoint_id: string;
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
  /** Attempts in flight to one endpoint in this process (PER_ENDPOINT). */
  perEndpoint?: number;
  /** Attempts in flight in all in this process (IN_FLIGHT). */
  inFlight?: number;
}

/**
 * A slow or hanging endpoint holds at most this many of a process's attempts at once (each for up
 * to WEBHOOK_TIMEOUT_SECONDS); the other endpoints' deliveries go out beside them.
 */
export const PER_ENDPOINT = 4;
/** Attempts in flight in one process, all endpoints together. */
export const IN_FLIGHT = 64;

/**
 * The answer by which an endpoint says it is gone for good (as Svix and other senders read it):
 * the endpoint is paused rather than retried, and every later event with it.
 */
export const GONE = 410;

/** After a ring, the loop polls this often for a while: the ringing transaction commits a moment later. */
const RUNG_POLL_MS = 50;
const RUNG_FOR_MS = 1000;

/**
 * Enqueues webhook deliveries from the event log (WebhookEnqueuer), then delivers the due ones:
 * POST, signed, retried with exponential backoff (×3 from WEBHOOK_RETRY_BASE_SECONDS, capped at
 * 6 h) up to WEBHOOK_MAX_ATTEMPTS, every attempt recorded; a 410 Gone pauses the endpoint instead
 * (is_active 0, paused_reason), in the transaction that records the attempt. Any number of processes may run it:
 * one at a time tails the log, and a delivery is claimed by a conditional update that pushes its
 * due time past the attempt, so one process sends it (at least once on crash).
 *
 * The loop never waits for an answer: attempts run beside it, at most PER_ENDPOINT to one
 * endpoint and IN_FLIGHT in all, and an endpoint at its limit is left out of the next claims.
 * So an endpoint that hangs until the timeout delays only its own deliveries (before, each pass
 * waited for its slowest attempt: one hanging endpoint slowed every other to a batch per timeout).
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = true;
  private rungUntil = 0;
  /** Something became due while a pass ran: the next one follows at once. */
  private again = false;
  private readonly batchSize: number;
  private readonly perEndpoint: number;
  private readonly maxInFlight: number;
  /** Attempts in flight per endpoint id, and all of them (awaited by stop and runOnce). */
  private readonly busy = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
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
    this.perEndpoint = opts.perEndpoint ?? PER_ENDPOINT;
    this.maxInFlight = opts.inFlight ?? IN_FLIGHT;
    this.enqueuer = new WebhookEnqueuer(db, dialect, { owner: opts.owner });
  }

  /**
   * One pass: enqueue from the log what endpoints subscribed to, then attempt what is due at
   * `now`; returns how many deliveries were attempted, once their attempts are recorded.
   */
  async runOnce(now = Date.now()): Promise<number> {
    const started = await this.pass(now);
    await Promise.all(started);
    return started.length;
  }

  /** Enqueues, then starts the due attempts (without waiting for them): the attempts started. */
  private async pass(now: number): Promise<Array<Promise<void>>> {
    try {
      await this.enqueuer.run();
    } catch (err) {
      // The deliveries already enqueued still go out; the tail is tried again next pass.
      if (err instanceof CursorMoved) this.log.warn({ err }, 'webhook enqueue pass undone');
      else this.log.error({ err }, 'webhook enqueue pass failed');
    }
    return this.startDue(now);
  }

  /**
   * An event someone may subscribe to was recorded in this process (the event log's subscriber):
   * poll soon, rather than at the next WEBHOOK_POLL_MS, until the recording transaction commits.
   */
  ring(): void {
    if (this.stopped) return;
    this.rungUntil = Date.now() + RUNG_FOR_MS;
    this.soon(RUNG_POLL_MS);
  }

  /** The next pass in `ms` at most, unless one is running (it schedules the next itself). */
  private soon(ms: number): void {
    if (this.running) this.again = true;
    else if (this.timer) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.loop(), ms);
    }
  }

  private async startDue(now: number): Promise<Array<Promise<void>>> {
    const room = this.maxInFlight - this.inFlight.size;
    if (room <= 0) return [];
    const full = [...this.busy].filter(([, n]) => n >= this.perEndpoint).map(([id]) => id);
    let q = this.db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
      .select(['d.id', 'd.endpoint_id', 'd.payload', 'd.attempts', 'd.next_attempt_at', 'e.url', 'e.secret'])
      .where('d.status', '=', 'pending')
      .where('d.next_attempt_at', '<=', now)
      // A paused endpoint's pending deliveries wait for it to be resumed.
      .where('e.is_active', '=', 1);
    // An endpoint with PER_ENDPOINT attempts in flight here takes no more until one ends.
    if (full.length > 0) q = q.where('d.endpoint_id', 'not in', full);
    const due: Due[] = await q.orderBy('d.next_attempt_at').limit(Math.min(this.batchSize, room)).execute();
    const started: Array<Promise<void>> = [];
    for (const d of due) {
      const n = this.busy.get(d.endpoint_id) ?? 0;
      if (n >= this.perEndpoint) continue;
      const r = await this.db
        .updateTable('webhook_deliveries')
        .set({ next_attempt_at: now + this.config.timeoutMs + 60_000 })
        .where('id', '=', d.id)
        .where('status', '=', 'pending')
        .where('next_attempt_at', '=', d.next_attempt_at)
        // Paused since the select (an operator, or a 410 from an attempt of this batch): it waits.
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('webhook_endpoints as e')
              .select('e.id')
              .whereRef('e.id', '=', 'webhook_deliveries.endpoint_id')
              .where('e.is_active', '=', 1),
          ),
        )
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) continue;
      this.busy.set(d.endpoint_id, n + 1);
      const attempt: Promise<void> = this.attempt(d)
        .catch((err: unknown) => this.log.error({ err, delivery: d.id }, 'webhook attempt could not be recorded'))
        .finally(() => {
          const left = (this.busy.get(d.endpoint_id) ?? 1) - 1;
          if (left > 0) this.busy.set(d.endpoint_id, left);
          else this.busy.delete(d.endpoint_id);
          this.inFlight.delete(attempt);
          // Room again: what waited for it goes out now, not at the next idle poll.
          if (!this.stopped) this.soon(0);
        });
      this.inFlight.add(attempt);
      started.push(attempt);
    }
    return started;
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
    const gone = status === GONE;
    const giveUp = !ok && attempts >= this.config.maxAttempts;
    // After a 410 the endpoint is paused: the delivery waits with the others, due as soon as it is resumed.
    const delay = gone ? 0 : Math.min(this.config.retryBaseMs * 3 ** (attempts - 1), 6 * HOUR_MS);
    const pausedReason = `HTTP 410 Gone at ${new Date(finished).toISOString()} (delivery ${d.id})`;
    const paused = await this.db.transaction().execute(async (trx) => {
      const updated = await trx
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
        .executeTakeFirst();
      // The endpoint was deleted during the attempt, and its deliveries with it: nothing to record.
      if (Number(updated.numUpdatedRows) === 0) return false;
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
      if (!gone) return false;
      // Paused with the attempt that met the 410; its other pending deliveries wait for a resume.
      // Only an active endpoint: one already paused (by an operator, or by another attempt in
      // flight that met the 410 first) keeps its state and reason.
      const r = await trx
        .updateTable('webhook_endpoints')
        .set({ is_active: 0, paused_reason: pausedReason, updated_at: finished })
        .where('id', '=', d.endpoint_id)
        .where('is_active', '=', 1)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    });
    if (!ok) this.log.warn({ delivery: d.id, url: d.url, attempts, error, gave_up: giveUp }, 'webhook delivery failed');
    if (paused) {
      endpointsPaused.inc({ reason: 'gone' });
      this.log.warn(
        { endpoint: d.endpoint_id, url: d.url, delivery: d.id, reason: pausedReason },
        'webhook endpoint paused: it answered 410 Gone; its pending deliveries wait until it is resumed',
      );
    }
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
    this.again = false;
    this.running = this.pass(Date.now()).then(
      (started) => (n = started.length),
      (e: unknown) => this.log.error({ err: e }, 'webhook dispatcher pass failed'),
    );
    await this.running;
    this.running = null;
    if (this.stopped) return;
    const wait = n > 0 || this.again ? 0 : Date.now() < this.rungUntil ? RUNG_POLL_MS : this.config.pollMs;
    this.timer = setTimeout(() => void this.loop(), wait);
  }

  /** Stops the loop; resolves once the attempts in flight are recorded (each ends by its timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await Promise.all([...this.inFlight]);
  }
}
