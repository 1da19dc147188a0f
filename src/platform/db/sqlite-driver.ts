import type { Database as SqliteDatabase } from './better-sqlite3.js';
import type { DatabaseConnection, Driver } from 'kysely';
import { SqliteConnection, StatementCache, type Turn } from './sqlite-connection.js';
import type { WalSync } from './wal-sync.js';

export interface SqliteDriverOptions {
  /** An open better-sqlite3 connection, pragmas set (busy_timeout must be 0: see SqliteConnection). */
  sqlite: SqliteDatabase;
  /** How long a query or transaction may wait, from the moment it asked, for another connection's write lock. */
  lockWaitMs: number;
  /** The fsync of the WAL that makes commits durable (null in memory). */
  wal: WalSync | null;
  /** Prepared statements kept (see StatementCache). */
  statementCacheSize?: number;
}

/**
 * Kysely's Driver for Postier's SQLite: one connection, taken in turns by queries and
 * transactions. What it adds to a plain driver:
 *
 * - Transactions take SQLite's write lock when they begin (BEGIN IMMEDIATE). A deferred
 *   transaction that reads first (policy checks, leasing) and writes later cannot wait for the
 *   lock when another connection wrote meanwhile: SQLite fails it with SQLITE_BUSY_SNAPSHOT,
 *   which no waiting can cure. Taking the lock up front makes concurrent writers queue.
 * - The write lock is waited for off the event loop, within a budget (SqliteConnection).
 * - A lease that committed a write hands the connection on first (queries of other requests
 *   need not wait for the disk), then its holder waits for the WAL fsync that covers the commit
 *   (WalSync): Kysely releases the connection before its caller goes on.
 */
export class SqliteDriver implements Driver {
  private readonly turn = new Turnstile();
  private readonly statements: StatementCache;

  constructor(private readonly options: SqliteDriverOptions) {
    this.statements = new StatementCache(options.sqlite, options.statementCacheSize ?? 500);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    const deadline = performance.now() + this.options.lockWaitMs;
    await this.turn.lock();
    return new SqliteConnection(this.options.sqlite, this.statements, this.turn, deadline);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await lease(connection).begin();
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    lease(connection).commit();
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    lease(connection).rollback();
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    lease(connection).savepointCommand('savepoint', name);
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    lease(connection).savepointCommand('rollback to', name);
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    lease(connection).savepointCommand('release', name);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const committed = lease(connection).takeCommitted();
    this.turn.unlock();
    if (committed && this.options.wal) await this.options.wal.afterCommit();
  }

  async destroy(): Promise<void> {
    this.options.sqlite.close();
  }
}

function lease(connection: DatabaseConnection): SqliteConnection {
  if (!(connection instanceof SqliteConnection)) throw new Error('SqliteDriver: not one of its connections');
  return connection;
}

/** First come, first served: the connection goes to the longest waiter (unless one asks to go first). */
class Turnstile implements Turn {
  private held = false;
  private readonly waiting: Array<() => void> = [];

  lock(first = false): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => (first ? this.waiting.unshift(resolve) : this.waiting.push(resolve)));
  }

  unlock(): void {
    const next = this.waiting.shift();
    if (next)
      next(); // handed over: still held
    else this.held = false;
  }
}
