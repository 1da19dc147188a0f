import type pino from 'pino';
import type { Config } from '../platform/config.js';
import type { MetricsJson as Metrics } from '../platform/metrics.js';
import { oncePerTurn } from '../platform/once-per-turn.js';
import type { SmtpTarget } from '../delivery/index.js';
import { type FromAnyThread, SupervisedThread, type ToAnyThread } from './supervised-thread.js';

/** What the thread is started with: plain data, cloned into it. */
export interface DeliveryThreadData {
  config: Config;
  target: SmtpTarget[];
  /** The retention jobs run on the thread (its synchronous SQLite reads then never hold up the API's loop). */
  retention: boolean;
}

type Own = { type: 'notify' } | { type: 'feedback' } | { type: 'retention'; id: number; now: number };
type OwnReply = { type: 'retention'; id: number; ran: Record<string, unknown> | null; error?: string };
export type ToThread = Own | ToAnyThread;
export type FromThread = OwnReply | FromAnyThread;

/**
 * The delivery worker of `postier serve`, on a thread of its own: its own event loop and its
 * own database connection, so a burst of API traffic cannot starve delivery (and the urgent
 * messages in it) of event-loop turns, and the two use both cores of a small machine. SQLite
 * serializes the two writers with its lock (waited for off the event loop, see platform/db/database.ts);
 * PostgreSQL gives the thread its own pool.
 *
 * If the thread dies, it is started again after a second (then 2, 4… up to 30 s while restarts
 * fail, never giving up); its leases expire and are recovered like those of any worker that
 * stopped mid-send.
 */
export class DeliveryThread {
  private readonly ring = oncePerTurn(() => this.host.post({ type: 'notify' }));
  private readonly ringFeedback = oncePerTurn(() => this.host.post({ type: 'feedback' }));
  private nextRun = 1;
  private readonly runs = new Map<
    number,
    { resolve: (ran: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();

  private constructor(private readonly host: SupervisedThread<Own, OwnReply>) {}

  static async start(data: DeliveryThreadData, log: pino.Logger): Promise<DeliveryThread> {
    let self: DeliveryThread | null = null;
    const host = await SupervisedThread.start<Own, OwnReply>({
      entry: 'delivery-thread-entry',
      name: 'postier-delivery',
      workerData: data,
      log,
      message: (m) => self?.answered(m),
      exited: (code) => {
        if (!self) return;
        for (const run of self.runs.values()) run.reject(new Error(`the delivery thread exited (${code})`));
        self.runs.clear();
      },
    });
    self = new DeliveryThread(host);
    return self;
  }

  /** The running thread (tests end it to play a crash). */
  private get thread() {
    return this.host.thread;
  }

  private answered(m: OwnReply): void {
    const run = this.runs.get(m.id);
    this.runs.delete(m.id);
    if (m.ran) run?.resolve(m.ran);
    else run?.reject(new Error(m.error ?? 'the delivery thread runs no retention'));
  }

  /** Messages were queued in this process: lease now. One message per event-loop turn at most. */
  notify(): void {
    if (!this.host.isStopping) this.ring();
  }

  /** Feedback reports were stored in this process: the thread's processor classifies them now. */
  notifyFeedback(): void {
    if (!this.host.isStopping && this.host.isAlive) this.ringFeedback();
  }

  /** The thread's own counters (sent, failed, SMTP replies, …), to merge into GET /metrics. */
  metrics(timeoutMs?: number): Promise<Metrics> {
    return this.host.metrics(timeoutMs);
  }

  /** Runs every retention job once now on the thread (each only if its lock is free): what ran. */
  runRetention(now = Date.now()): Promise<Record<string, unknown>> {
    if (this.host.isStopping || !this.host.isAlive)
      return Promise.reject(new Error('the delivery thread is not running'));
    const id = this.nextRun++;
    return new Promise((resolve, reject) => {
      this.runs.set(id, { resolve, reject });
      this.host.post({ type: 'retention', id, now });
    });
  }

  /** Stops leasing, lets the sends in flight finish (or releases them), then ends the thread. */
  stop(): Promise<void> {
    return this.host.stop();
  }
}
