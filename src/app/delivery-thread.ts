import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';
import type pino from 'pino';
import type { Config } from '../platform/config.js';
import type { MetricsJson as Metrics } from '../platform/metrics.js';
import { MetricsAsker } from '../observability/index.js';
import { oncePerTurn } from '../platform/once-per-turn.js';
import { RestartDelay } from '../platform/restart-delay.js';
import type { SmtpTarget } from '../delivery/index.js';

/** What the thread is started with: plain data, cloned into it. */
export interface DeliveryThreadData {
  config: Config;
  target: SmtpTarget[];
  /** The retention jobs run on the thread (its synchronous SQLite reads then never hold up the API's loop). */
  retention: boolean;
}

export type ToThread =
  | { type: 'notify' }
  | { type: 'feedback' }
  | { type: 'metrics'; id: number }
  | { type: 'retention'; id: number; now: number }
  | { type: 'stop' };
export type FromThread =
  | { type: 'ready'; owner: string }
  | { type: 'metrics'; id: number; metrics: Metrics }
  | { type: 'retention'; id: number; ran: Record<string, unknown> | null; error?: string }
  | { type: 'stopped' }
  | { type: 'failed'; error: string };

// delivery-thread-entry.js once built. From the TypeScript sources (tests, `npm run postier`), the thread
// does not inherit tsx's loader hooks: it registers them before importing delivery-thread-entry.ts.
const SOURCE = path.extname(fileURLToPath(import.meta.url)) === '.ts';
const ENTRY = new URL(`./delivery-thread-entry${SOURCE ? '.ts' : '.js'}`, import.meta.url);
const threadOf = (workerData: DeliveryThreadData) =>
  SOURCE
    ? new Thread(
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(ENTRY.href)}); })`,
        {
          eval: true,
          workerData,
          name: 'postier-delivery',
        },
      )
    : new Thread(ENTRY, { workerData, name: 'postier-delivery' });

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
  private thread!: Thread;
  /** A thread is running (between its start and its 'exit'). */
  private alive = false;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly restartDelay = new RestartDelay();
  private readonly asker = new MetricsAsker(2000);
  private readonly ring = oncePerTurn(() => this.post({ type: 'notify' }));
  private readonly ringFeedback = oncePerTurn(() => this.post({ type: 'feedback' }));
  private stopped: (() => void) | null = null;
  private nextRun = 1;
  private readonly runs = new Map<
    number,
    { resolve: (ran: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();

  private constructor(
    private readonly data: DeliveryThreadData,
    private readonly log: pino.Logger,
  ) {}

  static async start(data: DeliveryThreadData, log: pino.Logger): Promise<DeliveryThread> {
    const t = new DeliveryThread(data, log);
    await t.spawn();
    return t;
  }

  private spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const thread = threadOf(this.data);
      this.thread = thread;
      this.alive = true;
      let ready = false;
      thread.on('message', (m: FromThread) => {
        if (m.type === 'ready') {
          ready = true;
          this.restartDelay.reset();
          resolve();
        } else if (m.type === 'failed' && !ready) reject(new Error(`delivery thread could not start: ${m.error}`));
        else if (m.type === 'metrics') this.asker.answer(m.id, m.metrics);
        else if (m.type === 'retention') {
          const run = this.runs.get(m.id);
          this.runs.delete(m.id);
          if (m.ran) run?.resolve(m.ran);
          else run?.reject(new Error(m.error ?? 'the delivery thread runs no retention'));
        } else if (m.type === 'stopped') this.stopped?.();
      });
      thread.on('error', (err) => {
        this.log.error({ err }, 'delivery thread crashed');
        if (!ready) reject(err);
      });
      thread.on('exit', (code) => {
        this.alive = false;
        this.asker.answerAll([]);
        for (const run of this.runs.values()) run.reject(new Error(`the delivery thread exited (${code})`));
        this.runs.clear();
        this.stopped?.();
        if (!ready) reject(new Error(`delivery thread exited with ${code} before it was ready`));
        else if (!this.stopping) this.scheduleRestart({ code }, 'delivery thread exited unexpectedly');
      });
    });
  }

  /** Until a thread is up again: a failed restart is tried again later, never given up. */
  private scheduleRestart(fields: object, why: string): void {
    const delay = this.restartDelay.next();
    this.log.error(fields, `${why}; starting it again in ${delay / 1000} s`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.spawn().catch((err: unknown) => {
        if (!this.stopping) this.scheduleRestart({ err }, 'delivery thread could not restart');
      });
    }, delay);
    this.restartTimer.unref();
  }

  private post(m: ToThread): void {
    this.thread.postMessage(m);
  }

  /** Messages were queued in this process: lease now. One message per event-loop turn at most. */
  notify(): void {
    if (!this.stopping) this.ring();
  }

  /** Feedback reports were stored in this process: the thread's processor classifies them now. */
  notifyFeedback(): void {
    if (!this.stopping && this.alive) this.ringFeedback();
  }

  /** The thread's own counters (sent, failed, SMTP replies, …), to merge into GET /metrics. */
  metrics(timeoutMs?: number): Promise<Metrics> {
    if (this.stopping) return Promise.resolve([]);
    return this.asker.ask((id) => this.post({ type: 'metrics', id }), timeoutMs);
  }

  /** Runs every retention job once now on the thread (each only if its lock is free): what ran. */
  runRetention(now = Date.now()): Promise<Record<string, unknown>> {
    if (this.stopping || !this.alive) return Promise.reject(new Error('the delivery thread is not running'));
    const id = this.nextRun++;
    return new Promise((resolve, reject) => {
      this.runs.set(id, { resolve, reject });
      this.post({ type: 'retention', id, now });
    });
  }

  /** Stops leasing, lets the sends in flight finish (or releases them), then ends the thread. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    // Between a crash and its restart there is no thread to drain: nothing to wait for.
    if (this.alive) {
      await new Promise<void>((resolve) => {
        this.stopped = resolve;
        this.post({ type: 'stop' });
      });
    }
    await this.thread.terminate();
  }
}
