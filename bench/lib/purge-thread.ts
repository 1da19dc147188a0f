import { Worker } from 'node:worker_threads';
import type { Config } from '../../src/platform/config.js';
import type { PurgeResult } from '../../src/retention/index.js';

export interface PurgeThreadData {
  config: Config;
  schema?: string;
  now: number;
}

const ENTRY = new URL('./purge-thread-entry.ts', import.meta.url);

/**
 * purgeExpired on a thread of its own with its own connection, as `postier serve` runs retention
 * on its delivery thread: the sends measured meanwhile share the database, not the event loop.
 * (The bench runs under tsx, which a thread does not inherit: the thread registers it first.)
 */
export function purgeOnThread(data: PurgeThreadData): Promise<PurgeResult> {
  const thread = new Worker(
    `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(ENTRY.href)}); })`,
    { eval: true, workerData: data, name: 'bench-purge' },
  );
  return new Promise((resolve, reject) => {
    thread.once('message', (m: { ok: true; result: PurgeResult } | { ok: false; error: string }) => {
      if (m.ok) resolve(m.result);
      else reject(new Error(`the purge thread failed: ${m.error}`));
    });
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`the purge thread exited (${code})`)));
  });
}
