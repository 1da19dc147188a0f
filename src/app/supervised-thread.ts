import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';
import type pino from 'pino';
import type { MetricsJson as Metrics } from '../platform/metrics.js';
import { MetricsAsker } from '../observability/index.js';
import { RestartDelay } from '../platform/restart-delay.js';

/** What every supervised thread understands, beside its own messages. */
export type ToAnyThread = { type: 'metrics'; id: number } | { type: 'stop' };
/** What every supervised thread says, beside its own messages. */
export type FromAnyThread =
  | { type: 'ready'; owner: string }
  | { type: 'metrics'; id: number; metrics: Metrics }
  | { type: 'stopped' }
  | { type: 'failed'; error: string };

// `<entry>.js` once built. From the TypeScript sources (tests, `npm run postier`), the thread does
// not inherit tsx's loader hooks: it registers them before importing `<entry>.ts`.
const SOURCE = path.extname(fileURLToPath(import.meta.url)) === '.ts';
function threadOf(entry: string, name: string, workerData: unknown): Thread {
  const url = new URL(`./${entry}${SOURCE ? '.ts' : '.js'}`, import.meta.url);
  return SOURCE
    ? new Thread(
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`,
        { eval: true, workerData, name },
      )
    : new Thread(url, { workerData, name });
}

/**
 * A part of `postier serve` on a thread of its own (the delivery worker, the submission spool's
 * ingester): its own event loop and database connection. Started from `entry` (a module of this
 * folder) with `workerData`; ready when it says so. If it dies, it is started again after a
 * second (then 2, 4… up to 30 s while restarts fail, never giving up). Its counters are asked
 * for GET /metrics; `stop` asks it to finish what it holds, then ends it.
 */
export class SupervisedThread<To extends { type: string }, From extends { type: string }> {
  private current!: Thread;
  /** A thread is running (between its start and its 'exit'). */
  private alive = false;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly restartDelay = new RestartDelay();
  private readonly asker = new MetricsAsker(2000);
  private stopped: (() => void) | null = null;

  private constructor(
    private readonly entry: string,
    private readonly name: string,
    private readonly workerData: unknown,
    private readonly log: pino.Logger,
    private readonly hooks: {
      /** Its own messages (not ready, failed, metrics or stopped). */
      message?(m: From): void;
      /** The thread ended (crashed, or stopped). */
      exited?(code: number): void;
    },
  ) {}

  static async start<To extends { type: string }, From extends { type: string }>(opts: {
    entry: string;
    name: string;
    workerData: unknown;
    log: pino.Logger;
    message?(m: From): void;
    exited?(code: number): void;
  }): Promise<SupervisedThread<To, From>> {
    const t = new SupervisedThread<To, From>(opts.entry, opts.name, opts.workerData, opts.log, opts);
    await t.spawn();
    return t;
  }

  /**
   * Starts it without waiting for it to be ready: what is posted meanwhile waits in its port. A
   * first start that fails is tried again like a restart (1 s, 2, 4… up to 30 s), never given up.
   */
  static launch<To extends { type: string }, From extends { type: string }>(
    opts: Parameters<typeof SupervisedThread.start<To, From>>[0],
  ): SupervisedThread<To, From> {
    const t = new SupervisedThread<To, From>(opts.entry, opts.name, opts.workerData, opts.log, opts);
    t.spawn().catch((err: unknown) => {
      if (!t.stopping) t.scheduleRestart({ err }, `${t.name} thread could not start`);
    });
    return t;
  }

  /** The running thread (tests end it to play a crash). */
  get thread(): Thread {
    return this.current;
  }

  get isAlive(): boolean {
    return this.alive;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  private spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const thread = threadOf(this.entry, this.name, this.workerData);
      this.current = thread;
      this.alive = true;
      let ready = false;
      thread.on('message', (m: FromAnyThread | From) => {
        const any = m as FromAnyThread;
        if (any.type === 'ready') {
          ready = true;
          this.restartDelay.reset();
          resolve();
        } else if (any.type === 'failed') {
          if (!ready) reject(new Error(`${this.name} thread could not start: ${any.error}`));
        } else if (any.type === 'metrics') this.asker.answer(any.id, any.metrics);
        else if (any.type === 'stopped') this.stopped?.();
        else this.hooks.message?.(m as From);
      });
      thread.on('error', (err) => {
        this.log.error({ err }, `${this.name} thread crashed`);
        if (!ready) reject(err);
      });
      thread.on('exit', (code) => {
        this.alive = false;
        this.asker.answerAll([]);
        this.hooks.exited?.(code);
        this.stopped?.();
        if (!ready) reject(new Error(`${this.name} thread exited with ${code} before it was ready`));
        else if (!this.stopping) this.scheduleRestart({ code }, `${this.name} thread exited unexpectedly`);
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
        if (!this.stopping) this.scheduleRestart({ err }, `${this.name} thread could not restart`);
      });
    }, delay);
    this.restartTimer.unref();
  }

  post(m: To | ToAnyThread): void {
    this.current.postMessage(m);
  }

  /** The thread's own counters, to merge into GET /metrics (none while it is down). */
  metrics(timeoutMs?: number): Promise<Metrics> {
    if (this.stopping) return Promise.resolve([]);
    return this.asker.ask((id) => this.post({ type: 'metrics', id }), timeoutMs);
  }

  /** Asks the thread to finish what it holds, waits for it, then ends it. */
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
    await this.current.terminate();
  }
}
