import { type FileHandle, open, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Makes SQLite commits durable without blocking the event loop.
 *
 * With `synchronous=FULL`, SQLite fsyncs the write-ahead log inside COMMIT: better-sqlite3 runs
 * it on the event loop, which then sat idle for every fsync (figures: docs/benchmarks.md).
 * Connections here run `synchronous=NORMAL` (WAL frames written, not fsynced, at
 * commit; still fsynced before every checkpoint) and the connection fsyncs the -wal file itself,
 * on libuv's thread pool, before a commit's caller goes on: nobody hears that a write happened
 * until it is on disk, as with FULL. fsync covers the whole file, whoever wrote it, so one fsync
 * serves every commit made before it started (commits arriving meanwhile wait for the next).
 */
export class WalSync {
  private committed = 0;
  private synced = 0;
  private running: Promise<void> | null = null;
  private handle: FileHandle | null = null;
  private inode = -1;
  private checkedAt = 0;
  private dirSynced = false;

  constructor(
    private readonly walPath: string,
    /** Tests observe the order of commits and fsyncs through this. */
    private readonly fsync: (handle: FileHandle) => Promise<void> = (h) => h.sync(),
  ) {}

  /** Resolves once everything committed before the call is on disk. */
  async afterCommit(): Promise<void> {
    const mine = ++this.committed;
    while (this.synced < mine) await (this.running ??= this.run());
  }

  /** The fsync running now, if any (it never rejects). */
  inFlight(): Promise<void> | null {
    return this.running?.catch(() => {}) ?? null;
  }

  private async run(): Promise<void> {
    const target = this.committed;
    try {
      await this.fsync(await this.file());
      this.synced = Math.max(this.synced, target);
    } finally {
      this.running = null;
    }
  }

  /**
   * The -wal file. SQLite deletes it only when the last connection closes (never while this one
   * is open), so it is looked up again at most once a second, in case it was replaced.
   */
  private async file(): Promise<FileHandle> {
    if (this.handle && Date.now() - this.checkedAt < 1000) return this.handle;
    const { ino } = await stat(this.walPath);
    this.checkedAt = Date.now();
    if (!this.handle || ino !== this.inode) {
      await this.handle?.close().catch(() => {});
      this.handle = await open(this.walPath, 'r+');
      this.inode = ino;
      if (!this.dirSynced) {
        // The file's name must be durable too, once: fsync the folder that holds it.
        const dir = await open(path.dirname(this.walPath), 'r');
        await dir.sync().finally(() => dir.close());
        this.dirSynced = true;
      }
    }
    return this.handle;
  }

  async close(): Promise<void> {
    await this.running?.catch(() => {});
    await this.handle?.close().catch(() => {});
    this.handle = null;
  }
}
