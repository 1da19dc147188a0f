import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';

/** One content to write: SHA-256 (hex) of `data`, which is stored as is. */
export interface NewBlob {
  sha256: string;
  data: Uint8Array;
}

export type ToWriter = { type: 'write'; id: number; now: number; blobs: NewBlob[] } | { type: 'stop' };
export type FromWriter =
  | { type: 'written'; id: number }
  | { type: 'failed'; id: number; message: string; code?: string }
  | { type: 'stopped' };

// writer-entry.js once built. From the TypeScript sources (tests, `npm run postier`), the thread
// does not inherit tsx's loader hooks: it registers them before importing writer-entry.ts.
const SOURCE = path.extname(fileURLToPath(import.meta.url)) === '.ts';
const ENTRY = new URL(`./writer-entry${SOURCE ? '.ts' : '.js'}`, import.meta.url);
const threadOf = (databaseUrl: string) =>
  SOURCE
    ? new Thread(
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(ENTRY.href)}); })`,
        { eval: true, workerData: { databaseUrl }, name: 'postier-blob-writer' },
      )
    : new Thread(ENTRY, { workerData: { databaseUrl }, name: 'postier-blob-writer' });

/**
 * Writes large contents into SQLite from a thread with its own connection. better-sqlite3 is
 * synchronous: a 10 MB blob inserted by the API's connection would stall every request of the
 * process for tens of milliseconds. The thread commits (and fsyncs) the blobs before the
 * caller's own commit references them; see ContentStore for why that order is safe.
 *
 * Bytes backed by a SharedArrayBuffer (large request bodies, see platform/http/large-json.ts) reach the
 * thread without a copy; others are copied once. The thread starts on the first write (or
 * start()) and is started again by the next write if it died.
 */
export class BlobWriter {
  private thread: Thread | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private stopped: Promise<void> | null = null;

  constructor(private readonly databaseUrl: string) {}

  /** Starts the thread now rather than on the first write (an API process: no first request waits for it). */
  start(): void {
    if (!this.stopped) this.thread ??= this.spawn();
  }

  write(blobs: NewBlob[], now: number): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('the blob writer is stopped'));
    const thread = (this.thread ??= this.spawn());
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // A write in flight keeps the process up (a CLI send has nothing else to wait on).
      thread.ref();
      thread.postMessage({
        type: 'write',
        id,
        now,
        blobs: blobs.map((b) => ({ sha256: b.sha256, data: shareable(b.data) })),
      } satisfies ToWriter);
    });
  }

  private spawn(): Thread {
    const thread = threadOf(this.databaseUrl);
    // An idle writer does not keep the process up.
    thread.unref();
    thread.on('message', (m: FromWriter) => {
      if (m.type === 'stopped') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) thread.unref();
      if (m.type === 'written') p.resolve();
      // The database error's code (SQLITE_FULL…) lets the HTTP layer answer 503, as for any commit.
      else p.reject(Object.assign(new Error(m.message), m.code ? { code: m.code } : {}));
    });
    const fail = (error: Error) => {
      if (this.thread === thread) this.thread = null;
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
    thread.on('error', (err) => fail(err));
    thread.on('exit', (code) => fail(new Error(`the blob writer thread exited (${code})`)));
    return thread;
  }

  /** Lets the writes in flight finish, closes the thread's connection, ends the thread. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const thread = this.thread;
      if (!thread) return;
      await new Promise<void>((resolve) => {
        thread.once('exit', () => resolve());
        thread.postMessage({ type: 'stop' } satisfies ToWriter);
        setTimeout(() => void thread.terminate(), 10_000).unref();
      });
    })();
    return this.stopped;
  }
}

/** A view the thread can receive without copying more than the view (a view's whole ArrayBuffer is cloned). */
function shareable(data: Uint8Array): Uint8Array {
  if (data.buffer instanceof SharedArrayBuffer) return data;
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data;
  return data.slice();
}
