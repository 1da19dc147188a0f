import type { Kysely, Transaction } from 'kysely';
import { type Database, type Dialect, inOneConnectionOnly } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import { reusedQuery } from '../platform/db/reused-sql.js';
import { insertBlob } from './blobs.js';
import { BlobWriter } from './writer.js';

/** One content: its SHA-256 (hex) and its bytes. */
export interface Content {
  sha256: string;
  data: Uint8Array;
}

/**
 * Below this many bytes of new content in a request, SQLite stores it inside the request's own
 * commit, where 100 KB took under a millisecond; the writer thread would cost the request a
 * second commit and fsync. From here up, copying into the database on the event loop takes
 * milliseconds (10 MB: 50 to 100), so the thread does it. Measured with loops of commits of
 * fresh contents from 16 KB to 1 MB, stored inline and through the thread.
 */
export const INLINE_MAX_BYTES = 256 * 1024;

/**
 * Each distinct content stored once (`content_blobs`, keyed by SHA-256), referenced by rows that
 * need it (`email_attachments.blob_sha256`, `email_messages.raw_sha256`: foreign keys).
 *
 * Why nothing can be lost or leak, without a reference counter that could drift:
 * - a blob lives while a row references it: the foreign key refuses to delete it, whatever the
 *   collector (collect.ts) believes;
 * - a send first makes sure each of its contents exists, then inserts its references, in one
 *   transaction (`ensure`), and keeps the blobs from being deleted until it commits: SQLite has
 *   one writer, so nobody deletes between the check and the commit; on PostgreSQL the check
 *   takes a KEY SHARE lock on each blob, which the collector's FOR UPDATE SKIP LOCKED passes by,
 *   and a blob deleted before the lock is simply inserted again;
 * - on SQLite, large new contents are written before that transaction by a thread (`prewrite`,
 *   so the event loop never copies megabytes into the database). Until the send commits, such a
 *   blob is referenced by nobody: the collector leaves blobs younger than a grace period
 *   (collect.ts) alone, and if one was deleted anyway, `ensure` writes it again. A send that
 *   fails after its prewrite leaves an unreferenced blob, collected after the grace period.
 */
export class ContentStore {
  private constructor(
    private readonly dialect: Dialect,
    private readonly writer: BlobWriter | null,
  ) {}

  /** A writer thread only for an SQLite file (not an in-memory database: see inOneConnectionOnly). */
  static open(database: Pick<Database, 'dialect'>, databaseUrl: string): ContentStore {
    const threaded = database.dialect === 'sqlite' && !inOneConnectionOnly(databaseUrl);
    return new ContentStore(database.dialect, threaded ? new BlobWriter(databaseUrl) : null);
  }

  /**
   * Before the commit (SQLite files): writes the contents not stored yet from the writer thread,
   * when they are large enough for that to pay. Elsewhere `ensure` stores them in the commit.
   */
  async prewrite(db: Kysely<DB>, contents: Content[], now: number): Promise<void> {
    if (!this.writer) return;
    const distinct = unique(contents);
    if (distinct.reduce((n, c) => n + c.data.length, 0) < INLINE_MAX_BYTES) return;
    const present = await existing(
      db,
      distinct.map((c) => c.sha256),
    );
    const missing = distinct.filter((c) => !present.has(c.sha256));
    if (missing.length > 0) await this.writer.write(missing, now);
  }

  /**
   * Inside the transaction that will reference them: every content exists when this returns and
   * stays until the transaction ends, so the references (foreign keys) can follow.
   */
  async ensure(trx: Transaction<DB>, contents: Content[], now: number): Promise<void> {
    let todo = unique(contents);
    for (let attempt = 0; todo.length > 0; attempt++) {
      // Each round either finds a blob or inserts it; only a delete racing the lookup brings one back.
      if (attempt === 5) throw new Error('content blobs kept disappearing while being referenced');
      const present = await existing(
        trx,
        todo.map((c) => c.sha256),
        this.dialect === 'postgres',
      );
      const missing = todo.filter((c) => !present.has(c.sha256));
      if (missing.length === 0) return;
      const inserted = new Set<string>();
      for (const c of missing) if (await insertBlob(trx, c.sha256, c.data, now)) inserted.add(c.sha256);
      // Not inserted: another transaction committed it meanwhile; look it up (and lock it) again.
      todo = missing.filter((c) => !inserted.has(c.sha256));
    }
  }

  /** Starts the writer thread, if this store has one, before the first request needs it. */
  start(): void {
    this.writer?.start();
  }

  close(): Promise<void> {
    return this.writer?.stop() ?? Promise.resolve();
  }
}

function unique(contents: Content[]): Content[] {
  const seen = new Map<string, Content>();
  for (const c of contents) if (!seen.has(c.sha256)) seen.set(c.sha256, c);
  return [...seen.values()];
}

/** Which of `hashes` are stored; with `lock`, each found blob is KEY SHARE locked until the transaction ends (PostgreSQL). */
async function existing(db: Kysely<DB>, hashes: string[], lock = false): Promise<Set<string>> {
  const rows = await reusedQuery(db, `content_blobs:existing:${hashes.length}:${lock}`, hashes, () => {
    const q = db.selectFrom('content_blobs').select('sha256').where('sha256', 'in', hashes);
    return lock ? q.forKeyShare() : q;
  });
  return new Set(rows.map((r) => r.sha256));
}
