/**
 * Inside the delivery thread (see thread.ts): the same services and the same worker as a
 * `postier worker` process, driven by messages from the serving thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startWorker } from '../cli/worker.js';
import { registry } from '../observability/metrics.js';
import { createServices } from '../services.js';
import { createLogger } from '../shared/logger.js';
import type { DeliveryThreadData, FromThread, ToThread } from './thread.js';

const port = parentPort!;
const say = (m: FromThread) => port.postMessage(m);
const { config, target } = workerData as DeliveryThreadData;
const log = createLogger(config.logLevel).child({ thread: 'delivery' });

try {
  // The serving thread has migrated already.
  const s = await createServices(config, log, { migrate: false });
  const worker = startWorker(s, target);
  port.on('message', (m: ToThread) => {
    if (m.type === 'notify') s.outbox.notify();
    else if (m.type === 'metrics') void registry.getMetricsAsJSON().then((metrics) => say({ type: 'metrics', id: m.id, metrics }));
    else if (m.type === 'stop') {
      void worker
        .stop()
        .then(() => s.close())
        .catch((err: unknown) => log.error({ err }, 'delivery thread did not stop cleanly'))
        .finally(() => say({ type: 'stopped' }));
    }
  });
  say({ type: 'ready', owner: worker.owner });
} catch (e) {
  log.error({ err: e }, 'delivery thread could not start');
  say({ type: 'failed', error: e instanceof Error ? e.message : String(e) });
}
