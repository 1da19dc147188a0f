/**
 * Inside the delivery thread (see delivery-thread.ts): the same worker as a `postier worker` process,
 * over the platform and the delivery worker only (no template engine, HTTP stack or capture server: the serving
 * thread has those), driven by messages from the serving thread.
 */
import { workerData } from 'node:worker_threads';
import { openPlatform } from './platform.js';
import { createLogger } from '../platform/log.js';
import { startWorker } from '../delivery/index.js';
// Not the feature's index: the listener's smtp-server stays out of this thread.
import { FeedbackProcessor } from '../feedback/intake/processor.js';
import { returnPathFor } from '../feedback/return-path.js';
// Not the feature's index: its erasure reaches the API side's packages (accept, templates).
import { startRetentionScheduler } from '../retention/scheduler.js';
import type { DeliveryThreadData, FromThread, ToThread } from './delivery-thread.js';
import { runThread } from './thread-main.js';

const { config, target, retention: runsRetention } = workerData as DeliveryThreadData;
const log = createLogger(config.logLevel).child({ thread: 'delivery' });

await runThread<ToThread, FromThread>('delivery', log, (say) => {
  // The serving thread has migrated already. Leasing and the batched completions need few
  // PostgreSQL connections: WORKER_DATABASE_POOL_SIZE (5), not the API's DATABASE_POOL_SIZE (10).
  const s = openPlatform(config, log, { poolSize: config.workerDatabasePoolSize });
  const worker = startWorker({ ...s, returnPath: returnPathFor(config) }, target);
  // Reports received by mail are classified here, off the API's event loop.
  const processor = new FeedbackProcessor(s, { owner: `${worker.owner}:feedback` });
  processor.start();
  // Retention here rather than on the API's loop: on SQLite a purge reads cold pages of old
  // messages synchronously, which held up every request of the process during each batch.
  const retention = runsRetention
    ? startRetentionScheduler(
        { ...s, log: log.child({ component: 'retention' }) },
        { owner: `${worker.owner}:retention` },
      )
    : null;
  return {
    owner: worker.owner,
    message: (m) => {
      if (m.type === 'notify') s.outbox.notify();
      else if (m.type === 'feedback') processor.notify();
      else if (m.type === 'retention') {
        if (!retention) say({ type: 'retention', id: m.id, ran: null });
        else
          void retention.runOnce(m.now).then(
            (ran) => say({ type: 'retention', id: m.id, ran }),
            (e: unknown) => say({ type: 'retention', id: m.id, ran: null, error: String(e) }),
          );
      }
    },
    stop: async () => {
      await retention?.stop();
      await processor.stop();
      await worker.stop();
      await s.close();
    },
  };
});
