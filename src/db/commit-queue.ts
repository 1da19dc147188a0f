import { type Kysely, type Transaction, sql } from 'kysely';
import { oncePerTurn } from '../shared/once-per-turn.js';
import type { Dialect } from './database.js';
import type { DB } from './schema.js';

type Work<T> = (trx: Transaction<DB>) => Promise<T>;
interface Pending {
  work: Work<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Runs units of work in transactions, sharing one commit among concurrent callers on SQLite.
 *
 * SQLite has one writer at a time, and every commit must reach the disk before its callers
 * hear of it. Units that arrive in the same event-loop turn are committed together, each inside
 * its own savepoint so a failing unit rolls back alone. The fsync that makes a commit durable
 * runs off the event loop after the connection is handed on (see WalSync), so the next batch
 * commits while the previous one's fsync is in flight, and one fsync covers every commit made
 * before it started. Nobody is answered before the fsync that covers their rows has returned.
 * PostgreSQL commits concurrently on its own pool, so each unit gets its own transaction.
 */
export class CommitQueue {
  private pending: Pending[] = [];
  private readonly schedule = oncePerTurn(() => void this.flush());

  constructor(
    private readonly db: Kysely<DB>,
    private readonly dialect: Dialect,
    private readonly maxBatch = 256,
  ) {}

  run<T>(work: Work<T>): Promise<T> {
    if (this.dialect !== 'sqlite') return this.db.transaction().execute(work);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (v: unknown) => void, reject });
      // Wait for the end of this event-loop turn: every request whose body arrived in the same
      // poll phase joins the batch. Flushing at once would commit them one by one, because
      // better-sqlite3 runs the whole transaction before the loop reads the next socket. A batch
      // whose fsync is still running does not hold the next one back.
      this.schedule();
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, this.maxBatch);
        const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
        try {
          await this.db.transaction().execute(async (trx) => {
            for (const unit of batch) {
              await sql`savepoint unit`.execute(trx);
              try {
                outcomes.push({ ok: true, value: await unit.work(trx) });
                await sql`release savepoint unit`.execute(trx);
              } catch (error) {
                try {
                  await sql`rollback to savepoint unit`.execute(trx);
                  await sql`release savepoint unit`.execute(trx);
                } catch {
                  // SQLite rolled the whole transaction back by itself (SQLITE_FULL, SQLITE_IOERR):
                  // the batch fails, with the real cause rather than "no such savepoint".
                  throw error;
                }
                outcomes.push({ ok: false, error });
              }
            }
          });
        } catch (error) {
          // The commit itself failed (disk full, I/O error): nothing of the batch is stored.
          for (const unit of batch) unit.reject(error);
          continue;
        }
        batch.forEach((unit, i) => {
          const o = outcomes[i]!;
          if (o.ok) unit.resolve(o.value);
          else unit.reject(o.error);
        });
      }
    } finally {
      if (this.pending.length > 0) this.schedule();
    }
  }
}
