import type pino from 'pino';
import type { Config } from '../platform/config.js';
import type { MetricsJson as Metrics } from '../platform/metrics.js';
import { oncePerTurn } from '../platform/once-per-turn.js';
import { type FromAnyThread, SupervisedThread, type ToAnyThread } from './supervised-thread.js';

/**
 * PostgreSQL connections of the ingester's thread: it stores one batch at a time (a lease, a
 * group commit, a failed row's release), so two are plenty (docs/scaling.md counts them).
 */
export const INGEST_POOL_SIZE = 2;

/** What the thread is started with: plain data, cloned into it. */
export interface IngestThreadData {
  config: Config;
  /** The spool leases' owner, the same across restarts: a new thread takes back the rows a dead one held. */
  owner: string;
  poolSize: number;
}

type Own = { type: 'notify' };
type OwnReply = { type: 'queued' };
export type IngestToThread = Own | ToAnyThread;
export type IngestFromThread = OwnReply | FromAnyThread;

/**
 * The submission spool's ingester on a thread of its own (SUBMISSION_INGEST_THREAD, on by default
 * on PostgreSQL): parsing each spooled message's MIME and storing its messages cost about 1.1 ms of
 * a thread a message, more than the listener's own work (0.7 ms). On its thread it uses the
 * machine's other core, and the listener's loop only spools and answers: on PostgreSQL it stored
 * about a third faster. On SQLite both write through one write lock, the limit there, and it was
 * no faster (docs/benchmarks.md, fifteenth session).
 *
 * The listener rings it when it spooled messages; it says when it queued messages (`queued`: the
 * delivery worker is rung). If it dies, it is started again (SupervisedThread) and takes back at
 * once the rows it had leased.
 */
export class IngestThread {
  private readonly ring = oncePerTurn(() => this.host.post({ type: 'notify' }));

  private constructor(private readonly host: SupervisedThread<Own, OwnReply>) {}

  /** Started and ready (tests). */
  static async start(data: IngestThreadData, log: pino.Logger, on: { queued(): void }): Promise<IngestThread> {
    return new IngestThread(await SupervisedThread.start<Own, OwnReply>(IngestThread.options(data, log, on)));
  }

  /**
   * Started, not waited for (`postier serve`, `postier submission`): loading its code takes a
   * second or two of the other core, and the listener need not wait; what it spools meanwhile is
   * stored once the thread is up. A thread that cannot start is tried again, never given up.
   */
  static launch(data: IngestThreadData, log: pino.Logger, on: { queued(): void }): IngestThread {
    return new IngestThread(SupervisedThread.launch<Own, OwnReply>(IngestThread.options(data, log, on)));
  }

  private static options(data: IngestThreadData, log: pino.Logger, on: { queued(): void }) {
    return {
      entry: 'ingest-thread-entry',
      name: 'postier-ingest',
      workerData: data,
      log,
      message: () => on.queued(),
    };
  }

  /** The running thread (tests end it to play a crash). */
  private get thread() {
    return this.host.thread;
  }

  /** Messages were spooled: look now. One message per event-loop turn at most (before it is ready: once it is). */
  notify(): void {
    if (!this.host.isStopping && this.host.isAlive) this.ring();
  }

  /** The thread's own counters (stored, retried…), to merge into GET /metrics. */
  metrics(timeoutMs?: number): Promise<Metrics> {
    return this.host.metrics(timeoutMs);
  }

  /** Ends after the batch in hand; what is left stays spooled for the next start. */
  stop(): Promise<void> {
    return this.host.stop();
  }
}
