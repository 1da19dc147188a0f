/**
 * Inside the blob writer thread (see writer.ts): its own SQLite connection, one transaction per
 * request's blobs, committed and on disk before the answer goes back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { sql } from 'kysely';
import { openDatabase } from '../platform/db/database.js';
import { insertBlob } from './blobs.js';
import type { FromWriter, ToWriter } from './writer.js';

const port = parentPort!;
const say = (m: FromWriter) => port.postMessage(m);
const database = openDatabase((workerData as { databaseUrl: string }).databaseUrl);
const { db } = database;
// This connection only writes blobs, which are never read back through it: a page cache of
// better-sqlite3's default size (16 MB) would keep the last blob's pages in memory for nothing.
const ready = sql`pragma cache_size = -512`.execute(db);

// One message at a time, in order: a stop comes after the writes posted before it.
let queue: Promise<void> = ready.then(
  () => undefined,
  () => undefined,
);
port.on('message', (m: ToWriter) => {
  queue = queue.then(() => handle(m));
});

async function handle(m: ToWriter): Promise<void> {
  if (m.type === 'stop') {
    await database.close().catch(() => {});
    say({ type: 'stopped' });
    port.close();
    return;
  }
  try {
    await db.transaction().execute(async (trx) => {
      for (const b of m.blobs) await insertBlob(trx, b.sha256, b.data, m.now);
    });
    say({ type: 'written', id: m.id });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    say({
      type: 'failed',
      id: m.id,
      message: e instanceof Error ? e.message : String(e),
      ...(typeof code === 'string' ? { code } : {}),
    });
  }
}
