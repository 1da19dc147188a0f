import { type Kysely, sql } from 'kysely';
import type pino from 'pino';
import type { CommitQueue } from '../platform/db/commit-queue.js';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import { searchIndexPending, searchIndexed } from '../platform/metrics.js';

/**
 * Most messages indexed in one unit of the commit queue: about 10 ms of the event loop (FTS5
 * takes 15–25 µs a row in a batch this size), which the other units of that commit wait for.
 */
export const INDEX_BATCH = 500;
const DEFAULT_INTERVAL_MS = 200;
/** After failed runs the job waits longer, doubling up to this (a full disk must not flood the log). */
const MAX_BACKOFF_MS = 30_000;

/**
 * SQLite: moves up to `limit` messages (oldest first, none above rowid `ceiling`) from
 * message_search_pending into the FTS5 search index (migration 0021), in the caller's
 * transaction. Returns how many it moved.
 */
export async function indexPending(trx: Kysely<DB>, limit: number, ceiling = Number.MAX_SAFE_INTEGER): Promise<number> {
  const { rows } = await sql<{ last: number | null; n: number }>`select max(message_rowid) as last, count(*) as n
    from (select message_rowid from message_search_pending where message_rowid <= ${ceiling}
      order by message_rowid limit ${limit})`.execute(trx);
  const last = rows[0]?.last ?? null;
  if (last === null) return 0;
  // In rowid order: FTS5 appends to its segment rather than sorting.
  await sql`insert into message_search (rowid, recipient, sender, subject, tags)
    select m.rowid, m.recipient_email, coalesce(m.from_email, ''), m.subject, coalesce(m.tags, '')
    from message_search_pending p join email_messages m on m.rowid = p.message_rowid
    where p.message_rowid <= ${last} order by p.message_rowid`.execute(trx);
  await sql`delete from message_search_pending where message_rowid <= ${last}`.execute(trx);
  return Number(rows[0]!.n);
}

export interface SearchIndexDeps {
  db: Kysely<DB>;
  commits: CommitQueue;
  dialect: Dialect;
  log: pino.Logger;
  /** Pause between two background runs that found little to do. */
  intervalMs?: number;
}

/**
 * The SQLite search index, filled after the messages' commits rather than inside them
 * (migration 0021 says why). `start()` runs a background job that indexes what is pending every
 * `intervalMs`, at once again while a full batch was found; `catchUp()` indexes everything
 * pending, and a search awaits it before it reads message_search, so no search misses a message
 * accepted before it. Each batch is a unit of the commit queue: it shares the commit (and the
 * fsync) of the sends around it. On PostgreSQL both do nothing: its trigram indexes are written
 * with the row.
 */
export class SearchIndex {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  /** Runs that failed in a row (0 after one that worked). */
  private failures = 0;

  constructor(private readonly deps: SearchIndexDeps) {}

  /** SQLite: every message pending now is in message_search when this resolves. */
  async catchUp(): Promise<void> {
    if (this.deps.dialect !== 'sqlite') return;
    const { rows } = await sql<{
      top: number | null;
    }>`select max(message_rowid) as top from message_search_pending`.execute(this.deps.db);
    const top = rows[0]?.top ?? null;
    if (top === null) return;
    while ((await this.batch(top)) === INDEX_BATCH) {}
  }

  /** What GET /api/v1/system shows: the index's kind and, on SQLite, how many messages wait for it. */
  async state(): Promise<{ kind: 'sqlite_fts5' | 'postgres_trgm'; pending: number }> {
    if (this.deps.dialect !== 'sqlite') return { kind: 'postgres_trgm', pending: 0 };
    return { kind: 'sqlite_fts5', pending: await this.pending() };
  }

  start(): void {
    if (this.deps.dialect !== 'sqlite' || !this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private async batch(ceiling?: number): Promise<number> {
    const n = await this.deps.commits.run((trx) => indexPending(trx, INDEX_BATCH, ceiling));
    searchIndexed.inc(n);
    return n;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick()
        .then((full) => this.schedule(full ? 0 : this.pause()))
        .finally(() => {
          this.running = null;
        });
    }, delayMs);
    this.timer.unref();
  }

  private pause(): number {
    const interval = this.deps.intervalMs ?? DEFAULT_INTERVAL_MS;
    return this.failures === 0 ? interval : Math.min(MAX_BACKOFF_MS, interval * 2 ** this.failures);
  }

  /** One background run: whether it found a full batch (more may be waiting). */
  private async tick(): Promise<boolean> {
    let full: boolean;
    try {
      full = await this.indexSome();
    } catch (err) {
      // A busy lock or a full disk: the messages stay pending, and searches index them themselves.
      // Logged once per streak of failures, tried again later each time (see pause()).
      if (this.failures === 0)
        this.deps.log.warn({ err }, 'search index: pending messages not indexed; trying again later');
      this.failures++;
      return false;
    }
    if (this.failures > 0) this.deps.log.info({ failed_runs: this.failures }, 'search index: indexing again');
    this.failures = 0;
    return full;
  }

  private async pending(): Promise<number> {
    const { rows } = await sql<{ n: number }>`select count(*) as n from message_search_pending`.execute(this.deps.db);
    return Number(rows[0]?.n ?? 0);
  }

  private async indexSome(): Promise<boolean> {
    const pending = await this.pending();
    searchIndexPending.set(pending);
    if (pending === 0) return false;
    const n = await this.batch();
    searchIndexPending.set(Math.max(0, pending - n));
    return n === INDEX_BATCH;
  }
}
