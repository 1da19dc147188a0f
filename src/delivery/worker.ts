import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type pino from 'pino';
import type { MessageRow } from '../platform/db/schema.js';
import { forgetWorkers, goneLocalWorkers, pruneWorkers, type WorkerHeartbeat } from '../platform/workers.js';
import type { BackoffPolicy } from './backoff.js';
import { buildBytes, buildWaiting } from '../platform/metrics.js';
import { ByteBudget } from './byte-budget.js';
import { CompletionBatcher } from './completion-batcher.js';
import type { OutboxSignal } from './signal.js';
import {
  attemptDelivery,
  type MimeSource,
  type RecipientGate,
  recordAttempt,
  type SmtpTransport,
} from './process-message.js';
import type { RelayMonitor } from './relay-status.js';
import type { DeliveryStore } from './store.js';

export interface WorkerOptions {
  batchSize: number;
  concurrency: number;
  /**
   * What the messages being built and sent may hold at once, by MimeSource.estimate
   * (WORKER_MAX_BUILD_MB); the others wait, leased, before their build. None: no bound.
   */
  buildBudgetBytes?: number;
  leaseMs: number;
  pollMs: number;
  backoff: BackoffPolicy;
  /** A message meeting nothing but relay problems for this long fails (RELAY_PROBLEM_MAX_HOURS). */
  relayProblemMaxMs: number;
  /** On stop, how long in-flight sends may take before their leases are released anyway. */
  drainMs: number;
  /** A worker whose heartbeat is older than this is dead: its leases are taken over (WORKER_DEAD_AFTER_SECONDS). */
  deadAfterMs?: number;
  /** Delivering to the capture server: an accepted message is recorded as `captured`, not `sent`. */
  capture?: boolean;
  owner?: string;
}

export interface WorkerDeps {
  store: DeliveryStore;
  transport: SmtpTransport;
  mime: MimeSource;
  /** The suppression list's verdicts on the recipients, asked once per leased batch; none: all are sent to. */
  recipients?: RecipientGate;
  log: pino.Logger;
  /** Rung by this process's send path: lease now rather than at the next poll. */
  signal?: OutboxSignal;
  /** Hears every attempt's verdict on the relay's health (metrics, log, relay_status). */
  relay?: RelayMonitor;
  /** This worker's row in `workers`, beaten on a timer (see platform/workers.ts); none: leases recovered by expiry only. */
  heartbeat?: WorkerHeartbeat;
}

// Rows of workers silent for this long are removed (their leases were taken over long before).
const FORGET_AFTER_MS = 3_600_000;

// A lease outlives its attempt's deadline by this much (timers are not exact), then renewal stops.
const DEADLINE_GRACE_MS = 2000;
/** After the drain deadline, how long results already in may still take to commit. */
const RECORD_GRACE_MS = 2000;

/** Whether every promise settled within `ms`. */
async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([Promise.allSettled(promises).then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A lease owner id: which host and process, and which worker of it. */
export const workerId = () => `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

const byUrgency = (a: MessageRow, b: MessageRow) =>
  a.priority - b.priority || Number(a.next_attempt_at) - Number(b.next_attempt_at);

/**
 * The delivery loop. Leases due messages in batches into a small local buffer (so the next
 * lease overlaps with sending), keeps up to `concurrency` sends in flight, renews its leases
 * while they run, and periodically makes the messages of dead workers due again.
 *
 * Stop (SIGTERM): no new leases; leased-but-unstarted messages are released at once; sends
 * in flight get `drainMs` to finish; whatever remains is released for another worker.
 */
export class Worker {
  readonly owner: string;
  private buffer: MessageRow[] = [];
  /** Every leased message not yet recorded: sending, or waiting for its result's commit. */
  private readonly inflight = new Map<string, Promise<void>>();
  /** Messages built or being sent, the relay's reply not yet in; at most `concurrency`. */
  private readonly atRelay = new Set<string>();
  /** Message id → when its SMTP attempt's deadline (the sum of its phases') has passed. */
  private readonly deadlines = new Map<string, number>();
  private stopping = false;
  private rang = false;
  private wakeUp: (() => void) | null = null;
  private loopDone: Promise<void> | null = null;
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | undefined;
  delivered = 0;
  private readonly completions: CompletionBatcher;
  private readonly budget: ByteBudget;
  /**
   * Leased messages too big for the room left in the budget, in order, with their estimates:
   * not started (no `concurrency` slot taken), renewed, released at once on stop.
   */
  private waitingForRoom: Array<{ message: MessageRow; bytes: number }> = [];

  constructor(
    private readonly deps: WorkerDeps,
    private readonly opts: WorkerOptions,
  ) {
    this.owner = opts.owner ?? workerId();
    this.completions = new CompletionBatcher(deps.store, 2 * opts.batchSize);
    this.budget = new ByteBudget(opts.buildBudgetBytes ?? Infinity);
  }

  start(): void {
    const { store, log } = this.deps;
    this.unsubscribe = this.deps.signal?.subscribe(() => this.notify());
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(
        () => void fn().catch((err: unknown) => log.error({ err }, 'delivery housekeeping failed')),
        ms,
      );
      t.unref();
      this.timers.push(t);
    };
    every(Math.max(1000, this.opts.leaseMs / 3), () =>
      store.renew(this.owner, this.renewable(Date.now()), Date.now(), this.opts.leaseMs),
    );
    const { deadAfterMs } = this.opts;
    const recover = async (gone: string[] = []) => {
      const now = Date.now();
      const deadBefore = deadAfterMs === undefined ? undefined : now - deadAfterMs;
      const r = await store.recoverAbandoned(now, { deadBefore, gone });
      if (r.requeued || r.failed) log.warn(r, 'leases of a stopped or dead worker recovered');
      if (r.requeued) this.notify();
    };
    // Most rounds are one cheap read that finds nothing: often enough that a dead worker's
    // messages wait little past WORKER_DEAD_AFTER_SECONDS.
    const recoverEvery = Math.min(
      30_000,
      this.opts.leaseMs / 4,
      deadAfterMs === undefined ? Infinity : deadAfterMs / 10,
    );
    every(Math.max(500, recoverEvery), async () => {
      await recover();
      if (this.deps.heartbeat) await pruneWorkers(store.db, Date.now() - FORGET_AFTER_MS);
    });
    // Scheduled messages become due within about a second of their send_at.
    every(Math.max(200, Math.min(1000, this.opts.pollMs * 5)), async () => {
      if ((await store.promoteDue(Date.now())) > 0) this.notify();
    });
    this.loopDone = this.takeOver(recover)
      .catch((err: unknown) => log.error({ err }, 'lease recovery failed'))
      .then(() => this.loop());
  }

  /**
   * At start-up, before leasing: joins the living (heartbeat row), and takes back at once the
   * leases of workers of this host whose process is gone (the previous run of this very service,
   * killed), then those of any dead or expired worker.
   */
  private async takeOver(recover: (gone: string[]) => Promise<void>): Promise<void> {
    const { heartbeat, store, log } = this.deps;
    if (!heartbeat) return recover([]);
    // Beating first: if the database is out now, the next beats write the row once it is back.
    await heartbeat
      .start()
      .catch((err: unknown) => log.warn({ err }, 'could not write the worker row; the heartbeats will retry'));
    const gone = await goneLocalWorkers(store.db);
    await recover(gone);
    if (gone.length) {
      log.warn({ workers: gone }, 'workers of this host whose process is gone: their leases were taken back');
      await forgetWorkers(store.db, gone);
    }
  }

  /**
   * The leases worth keeping: messages waiting in the buffer, being built, waiting for a
   * connection or being recorded, and those whose SMTP attempt is within its deadline. One past
   * it is let go: its socket has been closed by the deadline, and if its result never comes the
   * lease expires and another attempt happens, instead of a hung session holding it for ever.
   */
  private renewable(now: number): string[] {
    const held = [...this.inflight.keys()].filter((id) => (this.deadlines.get(id) ?? Infinity) > now);
    return [...held, ...this.buffer.map((m) => m.id), ...this.waitingForRoom.map((w) => w.message.id)];
  }

  /** Something may be due now (a send was accepted in this process, a retry requested). */
  notify(): void {
    this.rang = true;
    this.wakeUp?.();
  }

  private wait(ms: number): Promise<void> {
    if (this.rang) {
      this.rang = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = null;
        this.rang = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  private async loop(): Promise<void> {
    const { batchSize, pollMs, leaseMs } = this.opts;
    while (!this.stopping) {
      // Refill when half the buffer is gone: big enough batches, never a stall between them.
      if (this.buffer.length > batchSize / 2) {
        await this.wait(pollMs);
        continue;
      }
      const wanted = batchSize - this.buffer.length;
      let rows: MessageRow[];
      try {
        rows = await this.deps.store.lease(this.owner, wanted, Date.now(), leaseMs);
      } catch (err) {
        this.deps.log.error({ err }, 'leasing failed; retrying');
        await this.wait(pollMs * 4);
        continue;
      }
      if (rows.length) {
        // A failed read ahead only costs each build (each message's suppression verdict) its own query.
        await Promise.all([
          this.deps.mime.prefetch?.(rows).catch((err: unknown) => this.deps.log.warn({ err }, 'bodies not read ahead')),
          this.deps.recipients
            ?.prefetch?.(rows)
            .catch((err: unknown) => this.deps.log.warn({ err }, 'suppressions of the recipients not read ahead')),
        ]);
        this.buffer.push(...rows);
        this.buffer.sort(byUrgency);
        this.dispatch();
      }
      if (rows.length < wanted) await this.wait(pollMs);
    }
  }

  private dispatch(): void {
    // A message stops counting against `concurrency` once its reply is in: recording results
    // is batched (see CompletionBatcher) and must not hold SMTP back. The second bound keeps
    // a stalled database from letting results pile up without limit.
    const { concurrency, batchSize } = this.opts;
    while (this.atRelay.size < concurrency && this.inflight.size < concurrency + 2 * batchSize && !this.stopping) {
      const next = this.nextToSend();
      if (!next) break;
      const { message, bytes } = next;
      this.atRelay.add(message.id);
      const run = this.deliver(message, bytes).finally(() => {
        this.inflight.delete(message.id);
        this.dispatch();
      });
      this.inflight.set(message.id, run);
    }
    buildBytes.set(this.budget.held);
    buildWaiting.set(this.waitingForRoom.length);
    if (this.buffer.length <= batchSize / 2) this.notify();
  }

  /**
   * The next message to build and send, with the bytes it takes from the budget
   * (WORKER_MAX_BUILD_MB): the oldest one waiting for room once it fits, else the most urgent in
   * the buffer. A big one that does not fit (or would pass one already waiting) waits for room
   * without holding a `concurrency` slot, so the small ones behind it go on; at most a batch
   * waits, then big ones stay in the buffer.
   */
  private nextToSend(): { message: MessageRow; bytes: number } | undefined {
    const head = this.waitingForRoom[0];
    if (head && this.budget.take(head.bytes)) return this.waitingForRoom.shift();
    for (let i = 0; i < this.buffer.length; i++) {
      const message = this.buffer[i]!;
      const bytes = this.deps.mime.estimate?.(message) ?? 0;
      if (bytes > 0 && !(this.waitingForRoom.length === 0 && this.budget.take(bytes))) {
        if (this.waitingForRoom.length < this.opts.batchSize) {
          this.waitingForRoom.push({ message, bytes });
          this.buffer.splice(i--, 1);
        }
        continue;
      }
      this.buffer.splice(i, 1);
      return { message, bytes };
    }
    return undefined;
  }

  /** Builds and sends `message`, holding `bytes` of the budget until its reply is in. */
  private async deliver(message: MessageRow, bytes: number): Promise<void> {
    const { log } = this.deps;
    try {
      let c: Awaited<ReturnType<typeof attemptDelivery>>;
      try {
        const { backoff, relayProblemMaxMs } = this.opts;
        const onStart = (ms: number) => this.deadlines.set(message.id, Date.now() + ms + DEADLINE_GRACE_MS);
        const onWaiting = () => this.deadlines.delete(message.id);
        c = await attemptDelivery(message, { ...this.deps, backoff, relayProblemMaxMs }, { onStart, onWaiting });
        if (this.opts.capture && c.status === 'sent') c = { ...c, status: 'captured' };
      } finally {
        this.budget.release(bytes);
        this.deadlines.delete(message.id);
        this.atRelay.delete(message.id);
        this.dispatch();
      }
      this.deps.relay?.observe(c.relay, c.at, c.attempt.relay);
      const applied = await recordAttempt(message, c, {
        store: this.completions,
        owner: this.owner,
        mime: this.deps.mime,
      });
      if (c.status === 'sent' || c.status === 'captured') this.delivered++;
      if (!applied)
        log.warn(
          { messageId: message.id },
          'lease lost before the result was recorded; the attempt is on record, the status is not',
        );
      else if (c.status === 'suppressed')
        log.info({ messageId: message.id, reason: c.errorMessage }, 'message not sent: its recipient is suppressed');
      else if (c.status !== 'sent' && c.status !== 'captured') {
        const { attempt, code, response, relay_problem } = c.attempt;
        const what = c.status === 'partially_sent' ? 'message partially sent' : 'delivery attempt failed';
        log.info({ messageId: message.id, status: c.status, attempt, code, response, relay_problem }, what);
      }
    } catch (err) {
      log.error(
        { err, messageId: message.id },
        'could not record a delivery result; the lease will expire and the message will be retried',
      );
    }
  }

  get busy(): number {
    return this.inflight.size + this.buffer.length + this.waitingForRoom.length;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.unsubscribe?.();
    this.notify();
    const { store, log, heartbeat } = this.deps;
    // Others see it draining (never waited for: a slow database must not hold the drain up); it
    // stays alive, beating, until its last lease is settled.
    void heartbeat?.markStopping().catch((err: unknown) => log.warn({ err }, 'could not mark the worker stopping'));
    await this.loopDone;
    const unstarted = [
      ...this.buffer.splice(0).map((m) => m.id),
      ...this.waitingForRoom.splice(0).map((w) => w.message.id),
    ];
    buildWaiting.set(0);
    const released = await store.release(this.owner, unstarted, Date.now()).catch((err: unknown) => {
      log.error({ err }, 'could not release leases; they will expire');
      return [];
    });
    const drained = await settledWithin([...this.inflight.values()], this.opts.drainMs);
    for (const t of this.timers) clearInterval(t);
    if (!drained) {
      // Only the sends still waiting for the relay, read when the release's transaction runs. A
      // message whose reply is in and whose result waits for its commit is not released (that
      // would send it again): it gets RECORD_GRACE_MS more to commit.
      const late = await store
        .releaseInFlight(
          this.owner,
          () => {
            const ids = [...this.atRelay];
            return {
              begun: ids.filter((id) => this.deadlines.has(id)),
              notBegun: ids.filter((id) => !this.deadlines.has(id)),
            };
          },
          Date.now(),
        )
        .catch((err: unknown) => {
          log.error({ err }, 'could not release the sends in flight; their leases will be found abandoned');
          return { begun: [], notBegun: [] };
        });
      log.warn(
        {
          released: late.begun.length + late.notBegun.length,
          begun: late.begun.length,
          drainSeconds: this.opts.drainMs / 1000,
        },
        'sends still in flight at the drain deadline were released (or failed, past max_attempts); a relay that had taken one already will get it twice (WORKER_DRAIN_SECONDS)',
      );
      const recording = [...this.inflight].filter(([id]) => !this.atRelay.has(id)).map(([, run]) => run);
      if (!(await settledWithin(recording, RECORD_GRACE_MS))) {
        const left = [...this.inflight.keys()].filter((id) => !this.atRelay.has(id)).length;
        log.warn(
          { unrecorded: left },
          'results not recorded by the end of the stop: their messages are found abandoned and sent again by a live worker',
        );
      }
    }
    // Leases are recorded or released (or, past the grace, left to a live worker): the row goes
    // (if this fails, it is found dead later).
    await heartbeat?.stop().catch((err: unknown) => log.warn({ err }, 'could not remove the worker row'));
    this.deps.transport.close();
    await this.deps.relay?.flushed();
    log.info({ released: released.length, delivered: this.delivered }, 'delivery worker stopped');
  }
}
