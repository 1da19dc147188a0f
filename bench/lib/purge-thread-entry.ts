import { parentPort, workerData } from 'node:worker_threads';
import { openPlatform } from '../../src/app/platform.js';
import { createLogger } from '../../src/platform/log.js';
import { purgeExpired } from '../../src/retention/index.js';
import type { PurgeThreadData } from './purge-thread.js';

const { config, schema, now } = workerData as PurgeThreadData;
const s = openPlatform(config, createLogger('silent'), { schema });
try {
  const result = await purgeExpired(s, now);
  parentPort!.postMessage({ ok: true, result });
} catch (e) {
  parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
} finally {
  await s.close();
}
