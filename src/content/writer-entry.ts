/**
 * Inside the blob writer thread (see writer.ts): its own SQLite connection, one transaction per
 * request's blobs, committed and on disk before the answer goes back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../db/database.js';
import type { FromWriter, ToWriter } from './writer.js';

const port = parentPort!;
const say = (m: FromWriter) => port.postMessage(m);
const database = openDatabase((workerData as { databaseUrl: string }).databaseUrl);
const { db } = database;

// One message at a time, in order: a stop comes after the writes posted before it.
let queue = Promise.resolve();
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
      for (const b of m.blobs) {
        const data = Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength);
        await trx
          .insertInto('content_blobs')
          .values({ sha256: b.sha256, size_bytes: data.length, encoding: 'identity', created_at: m.now, data })
          .onConflict((oc) => oc.column('sha256').doNothing())
          .execute();
      }
    });
    say({ type: 'written', id: m.id });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    say({ type: 'failed', id: m.id, message: e instanceof Error ? e.message : String(e), ...(typeof code === 'string' ? { code } : {}) });
  }
}
