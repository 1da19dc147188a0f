import { parentPort } from 'node:worker_threads';
import type pino from 'pino';
import { registry } from '../platform/metrics.js';
import type { FromAnyThread, ToAnyThread } from './supervised-thread.js';

/** What a thread runs, once started. */
export interface ThreadParts<Own> {
  /** Named in the thread's `ready` (the owner of its leases). */
  owner: string;
  /** The thread's own messages (every one but `metrics` and `stop`). */
  message(m: Own): void;
  /** Finishes what it holds and closes what it opened. */
  stop(): Promise<void>;
}

/**
 * The inside of a SupervisedThread (delivery-thread-entry.ts, ingest-thread-entry.ts): `start`
 * opens what the thread runs; then the thread says `ready`, answers `metrics` from its own
 * registry, and on `stop` stops its parts and says `stopped`. A start that throws says `failed`
 * and ends the thread, so nothing it half-opened (a pool, a timer) outlives it: the host starts
 * another one later.
 */
export async function runThread<To extends { type: string }, From extends { type: string }>(
  name: string,
  log: pino.Logger,
  start: (
    say: (m: From) => void,
  ) => ThreadParts<Exclude<To, ToAnyThread>> | Promise<ThreadParts<Exclude<To, ToAnyThread>>>,
): Promise<void> {
  const port = parentPort!;
  const say = (m: From | FromAnyThread) => port.postMessage(m);
  try {
    const parts = await start(say);
    port.on('message', (m: To | ToAnyThread) => {
      if (m.type === 'metrics')
        void registry
          .getMetricsAsJSON()
          .then((metrics) => say({ type: 'metrics', id: (m as { id: number }).id, metrics }));
      else if (m.type === 'stop')
        void parts
          .stop()
          .catch((err: unknown) => log.error({ err }, `${name} thread did not stop cleanly`))
          .finally(() => say({ type: 'stopped' }));
      else parts.message(m as Exclude<To, ToAnyThread>);
    });
    say({ type: 'ready', owner: parts.owner });
  } catch (e) {
    log.error({ err: e }, `${name} thread could not start`);
    say({ type: 'failed', error: e instanceof Error ? e.message : String(e) });
    // After the message above is on its way: a thread's exit does not drop what it posted.
    setImmediate(() => process.exit(1));
  }
}
