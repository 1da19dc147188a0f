/**
 * Inside the submission ingester's thread (see ingest-thread.ts): the spool's ingester with a send
 * service of its own, on its own connection, driven by messages from the listener's thread. What
 * it stores is announced back: new queued messages (the delivery worker leases them at once). Its
 * events (`queued`, `suppressed`…) are none that webhooks carry.
 */
import { workerData } from 'node:worker_threads';
import { SpoolIngester } from '../accept/submission/index.js';
import { ContentStore } from '../content/index.js';
import { createLogger } from '../platform/log.js';
import { oncePerTurn } from '../platform/once-per-turn.js';
import { LAYOUTS_DIR, readLayouts, TemplateService } from '../templates/index.js';
import { unsubscribeKey } from '../unsubscribe/index.js';
import type { IngestFromThread, IngestThreadData, IngestToThread } from './ingest-thread.js';
import { openPlatform } from './platform.js';
import { sendServiceOf } from './send-service.js';
import { runThread } from './thread-main.js';

const { config, owner, poolSize } = workerData as IngestThreadData;
const log = createLogger(config.logLevel).child({ thread: 'submission-ingest' });

await runThread<IngestToThread, IngestFromThread>('submission ingest', log, async (say) => {
  // The listener's thread has migrated already.
  const s = openPlatform(config, log, { poolSize });
  const content = ContentStore.open(s.database, config.databaseUrl);
  content.start();
  const templates = new TemplateService(
    s.db,
    { timeZone: config.email.timezone, brand: config.brand },
    readLayouts(LAYOUTS_DIR),
  );
  // A group commit per lane of the ingester (two: one batch stored while the next is parsed).
  const send = sendServiceOf(s, { templates, content, unsubscribeKey: unsubscribeKey(config), groupsInFlight: 2 });
  send.onQueued(oncePerTurn(() => say({ type: 'queued' })));
  const ingester = new SpoolIngester(
    { db: s.db, dialect: s.dialect, send, config, log: log.child({ component: 'submission-spool' }) },
    { owner },
  );
  // A thread of this owner that died left its leased rows: they are due now, not after their lease.
  const reclaimed = await ingester.reclaim();
  if (reclaimed > 0) log.warn({ reclaimed }, 'submission spool: rows left by a previous ingester thread are due again');
  ingester.start();
  return {
    owner,
    message: (m) => {
      if (m.type === 'notify') ingester.notify();
    },
    stop: async () => {
      await ingester.stop();
      await content.close();
      await s.close();
    },
  };
});
