import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import SQLite, { type Database, type Statement } from './better-sqlite3.js';
import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';

/** The driver's hold on the one better-sqlite3 connection, released while a lease waits for the write lock. */
export interface Turn {
  /** `first`: ahead of every other waiter (a lease taking back the connection it lent). */
  lock(first?: boolean): Promise<void>;
  unlock(): void;
}

/**
 * Prepared statements per SQL text. Preparing showed in the accept path's CPU profile, and
 * better-sqlite3 statements are reusable; the oldest is dropped past `size` (multi-row inserts
 * make a different text for each row count).
 */
export class StatementCache {
  private readonly statements = new Map<string, Statement>();

  constructor(
    private readonly sqlite: Database,
    private readonly size: number,
  ) {}

  get(sql: string): Statement {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) {
      stmt = this.sqlite.prepare(sql);
      if (this.statements.size >= this.size) this.statements.delete(this.statements.keys().next().value!);
      this.statements.set(sql, stmt);
    } else if (stmt.busy) {
      // Still iterating for a stream: a statement runs one execution at a time.
      return this.sqlite.prepare(sql);
    }
    return stmt;
  }
}

/** The error of a unit whose lock budget ran out before it got the lock: what SQLite says then. */
export function lockWaitExpired(waitedMs: number): Error {
  return new SQLite.SqliteError(
    `database is locked (waited ${Math.round(waitedMs)} ms for the write lock)`,
    'SQLITE_BUSY',
  );
}

const isBusy = (error: unknown) => {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
};

/**
 * One lease of the connection, from Kysely's acquireConnection to its releaseConnection (a query,
 * or a transaction). It knows whether it committed a write (its holder then waits for the fsync)
 * and how long it may wait for the write lock.
 *
 * Lock waiting: busy_timeout is 0, because with it SQLite sleeps inside the call (1, 2, 5, 10…
 * ms): the HTTP loop froze whenever the worker thread held the lock, and the lock then sat free
 * until the sleeper woke (the worker thread spent much of its time in those sleeps). A statement
 * run outside a transaction (BEGIN IMMEDIATE, an autocommit write) that finds the lock taken fails
 * at once, having done nothing, and is retried after yielding to the loop, then every millisecond,
 * until the lease's deadline. Meanwhile the connection is handed to other leases (reads never need
 * the write lock in WAL mode, so they do not queue behind a writer that waits). Inside a
 * transaction the lock is already ours (BEGIN IMMEDIATE), so a busy error there is not retried.
 *
 * Whether a write was committed comes from SQLite itself, not from the SQL text: a statement may
 * write when it is not read-only (sqlite3_stmt_readonly, better-sqlite3's `Statement.readonly`);
 * outside a transaction it committed at once, inside one it counts at the COMMIT.
 */
export class SqliteConnection implements DatabaseConnection {
  /** A statement that may write ran in the transaction now open. */
  private wroteInTransaction = false;
  /** Writes were committed during this lease. */
  private committed = false;

  constructor(
    private readonly sqlite: Database,
    private readonly statements: StatementCache,
    private readonly turn: Turn,
    /** performance.now() after which the lease stops waiting for the write lock. */
    private readonly deadline: number,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.statements.get(query.sql);
    const parameters = query.parameters;
    let result: QueryResult<R>;
    try {
      result = this.sqlite.inTransaction
        ? execute<R>(stmt, parameters)
        : await this.whenLockFree(() => execute<R>(stmt, parameters));
    } catch (error) {
      // SQLite rolled the transaction back by itself (SQLITE_FULL, SQLITE_IOERR): nothing of it stays.
      if (!this.sqlite.inTransaction) this.wroteInTransaction = false;
      throw error;
    }
    if (!stmt.readonly) {
      if (this.sqlite.inTransaction) this.wroteInTransaction = true;
      else this.committed = true;
    } else if (this.wroteInTransaction && !this.sqlite.inTransaction) {
      // A statement of the caller's own ended the transaction (COMMIT, RELEASE): count it as committed.
      this.wroteInTransaction = false;
      this.committed = true;
    }
    return result;
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize = 1): AsyncIterableIterator<QueryResult<R>> {
    const stmt = this.statements.get(query.sql);
    if (!stmt.reader || !stmt.readonly) throw new Error('SQLite streams only queries that read');
    let rows: R[] = [];
    for (const row of stmt.iterate(query.parameters) as Iterable<R>) {
      rows.push(row);
      if (rows.length >= chunkSize) {
        yield { rows };
        rows = [];
      }
    }
    if (rows.length > 0) yield { rows };
  }

  /** BEGIN IMMEDIATE: the write lock taken up front (see SqliteDriver.beginTransaction), waited for. */
  async begin(): Promise<void> {
    await this.whenLockFree(() => this.statements.get('begin immediate').run());
    this.wroteInTransaction = false;
  }

  commit(): void {
    this.statements.get('commit').run();
    if (this.wroteInTransaction) this.committed = true;
    this.wroteInTransaction = false;
  }

  /**
   * SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR): a ROLLBACK
   * then fails with "no transaction is active", which would hide the real error (a full disk
   * answered 500 instead of 503). Nothing is left to roll back then.
   */
  rollback(): void {
    if (this.sqlite.inTransaction) this.statements.get('rollback').run();
    this.wroteInTransaction = false;
  }

  /** SAVEPOINT, RELEASE, ROLLBACK TO (inside the transaction: no lock to wait for). */
  savepointCommand(command: 'savepoint' | 'release' | 'rollback to', name: string): void {
    this.statements.get(`${command} "${name.replaceAll('"', '""')}"`).run();
  }

  /** Whether the lease committed writes, which must be on disk before its holder goes on. */
  takeCommitted(): boolean {
    const committed = this.committed;
    this.committed = false;
    return committed;
  }

  private async whenLockFree<T>(attempt: () => T): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return attempt();
      } catch (error) {
        if (!isBusy(error) || this.sqlite.inTransaction || performance.now() >= this.deadline) throw error;
      }
      // Lent to the leases queued meanwhile (reads go on), taken back before any newcomer once
      // the wait is over: a retry that queued behind them could miss the lock's free moments.
      this.turn.unlock();
      try {
        await (n === 0 ? yieldToLoop() : sleep(1));
      } finally {
        await this.turn.lock(true);
      }
    }
  }
}

function execute<R>(stmt: Statement, parameters: readonly unknown[]): QueryResult<R> {
  if (stmt.reader) return { rows: stmt.all(parameters) as R[] };
  const { changes, lastInsertRowid } = stmt.run(parameters);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}
