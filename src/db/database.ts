import { mkdirSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setImmediate as setImmediatePromise, setTimeout as setTimeoutPromise } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  PostgresDialect,
  type QueryResult,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
} from 'kysely';
import type pg from 'pg';
import { WalSync } from './wal-sync.js';
import type { DB } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Database {
  db: Kysely<DB>;
  dialect: Dialect;
  close(): Promise<void>;
}

// pg is loaded only for a PostgreSQL URL: a SQLite deployment (and each of its threads) does not
// carry it (3 MB of heap per isolate).
const require = createRequire(import.meta.url);

export interface OpenOptions {
  /** PostgreSQL: connections in the pool. */
  poolSize?: number;
  /** PostgreSQL: schema to use (tests give each file its own). */
  schema?: string;
  /** SQLite: how long a write waits for another connection's lock before SQLITE_BUSY. */
  lockWaitMs?: number;
  /** SQLite: the WAL fsync (tests observe it). */
  walFsync?: (handle: FileHandle) => Promise<void>;
}

export function openDatabase(url: string, options: OpenOptions = {}): Database {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length), options);
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, options);
  throw new Error(`Unsupported DATABASE_URL: ${url}`);
}

function openSqlite(file: string, options: OpenOptions): Database {
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const sqlite = new SQLite(file);
  const mode = sqlite.pragma('journal_mode = WAL', { simple: true }) as string;
  // Without WAL a COMMIT can meet SQLITE_BUSY from a reader, which nothing retries (see
  // LockWaitingConnection): refuse to run rather than fail sends under load.
  if (file !== ':memory:' && mode !== 'wal') {
    sqlite.close();
    throw new Error(`SQLite could not put ${file} in WAL mode (journal_mode is ${mode}); use a local filesystem`);
  }
  // A commit is on disk before its caller goes on (the API answers 201 only then): on a file, the
  // connection fsyncs the WAL itself, off the event loop (WalSync); in memory there is no disk.
  const wal = file === ':memory:' ? null : new WalSync(`${path.resolve(file)}-wal`, options.walFsync);
  sqlite.pragma(wal ? 'synchronous = NORMAL' : 'synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  // Several connections (the API, the worker thread, other processes) share the file. Waiting for
  // the write lock is done by LockWaitingConnection, off the event loop, not by SQLite's sleeps.
  sqlite.pragma('busy_timeout = 0');
  const db = new Kysely<DB>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }, sqlite, options.lockWaitMs ?? 10_000, wal) });
  return {
    db,
    dialect: 'sqlite',
    async close() {
      await db.destroy();
      await wal?.close();
    },
  };
}

/**
 * Transactions take SQLite's write lock when they begin (BEGIN IMMEDIATE). A deferred
 * transaction that reads first (policy checks, leasing) and writes later cannot wait for the
 * lock when another connection wrote meanwhile: SQLite fails it with SQLITE_BUSY_SNAPSHOT,
 * which no waiting can cure. Taking the lock up front makes concurrent writers queue.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  constructor(
    config: SqliteDialectConfig,
    private readonly sqlite: SQLite.Database,
    private readonly lockWaitMs: number,
    private readonly wal: WalSync | null,
  ) {
    super(config);
  }

  override createDriver(): Driver {
    const driver = super.createDriver() as SqliteDriver;
    const acquire = driver.acquireConnection.bind(driver);
    let connection: LockWaitingConnection | undefined;
    driver.acquireConnection = async () => {
      const inner = await acquire();
      return (connection ??= new LockWaitingConnection(inner, this.sqlite, this.lockWaitMs, this.wal));
    };
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    // Kysely releases the connection after a query or a transaction, before its caller goes on:
    // the connection is handed on first (queries of other requests need not wait for the disk),
    // then the caller waits for the fsync of what it committed.
    const release = driver.releaseConnection.bind(driver);
    driver.releaseConnection = async () => {
      const committed = connection?.takeCommitted() ?? false;
      await release();
      if (committed) await this.wal!.afterCommit();
    };
    return driver;
  }
}

/**
 * Waits for the write lock without blocking the event loop. With busy_timeout, SQLite sleeps
 * inside the call (1, 2, 5, 10… ms): the HTTP loop froze whenever the worker thread held the
 * lock, and the lock then sat free until the sleeper woke (a third of the worker thread's time
 * went to those sleeps). Here busy_timeout is 0: a statement run outside a transaction (BEGIN
 * IMMEDIATE, an autocommit write) that finds the lock taken fails at once, having done nothing,
 * and is retried after yielding to the loop, every millisecond, for up to `lockWaitMs`. Inside a
 * transaction the lock is already ours (BEGIN IMMEDIATE), so a busy error there is not retried.
 */
class LockWaitingConnection implements DatabaseConnection {
  constructor(
    private readonly inner: DatabaseConnection,
    private readonly sqlite: SQLite.Database,
    private readonly lockWaitMs: number,
    private readonly wal: WalSync | null,
  ) {}

  private committed = false;

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.run<R>(query);
    // A write became visible (COMMIT, or a write outside a transaction): it must be on disk
    // before the caller goes on (see releaseConnection).
    if (this.wal && !this.sqlite.inTransaction && writes(query)) this.committed = true;
    return result;
  }

  /** Whether a write was committed since the last call. */
  takeCommitted(): boolean {
    const c = this.committed;
    this.committed = false;
    return c;
  }

  private async run<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const deadline = Date.now() + this.lockWaitMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.inner.executeQuery<R>(query);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        const busy = typeof code === 'string' && code.startsWith('SQLITE_BUSY');
        if (!busy || this.sqlite.inTransaction || Date.now() >= deadline) throw error;
        await (attempt === 0 ? setImmediatePromise() : setTimeoutPromise(1));
      }
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

/** Could this statement, run outside a transaction, have written? (COMMIT ends one that did.) */
function writes(query: CompiledQuery): boolean {
  const kind = query.query.kind;
  if (kind === 'SelectQueryNode') return false;
  if (kind !== 'RawNode') return true;
  return !/^\s*(select|explain|rollback|begin)\b/i.test(query.sql);
}

/**
 * Kysely prepares every query anew; better-sqlite3 statements are reusable, and preparing was a
 * tenth of the accept path's CPU. Statements are kept per SQL text, the oldest dropped past 500
 * (multi-row inserts make a different text for each row count).
 */
const NOOP_STATEMENT = { reader: false, run: () => ({ changes: 0, lastInsertRowid: 0 }) } as unknown as SQLite.Statement;

function withStatementCache(sqlite: SQLite.Database): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  return new Proxy(sqlite, {
    get(target, prop, receiver) {
      if (prop !== 'prepare') {
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return (sql: string) => {
        // SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR);
        // Kysely's ROLLBACK would then fail with "no transaction is active" and hide the real
        // error (a full disk became a 500 instead of a 503). Nothing to roll back: do nothing.
        if (!target.inTransaction && /^\s*rollback\s*;?\s*$/i.test(sql)) return NOOP_STATEMENT;
        let stmt = cache.get(sql);
        if (!stmt) {
          stmt = target.prepare(sql);
          if (cache.size >= 500) cache.delete(cache.keys().next().value!);
          cache.set(sql, stmt);
        }
        return stmt;
      };
    },
  });
}

function openPostgres(url: string, options: OpenOptions): Database {
  const { Pool, types } = require('pg') as typeof pg;
  // int8 (bigint, count(*)) arrives as a string by default; every bigint here is an epoch-ms
  // time, a count or an id, all far below 2^53.
  types.setTypeParser(20, (v) => Number(v));
  const pool = new Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5000,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  // An idle client losing its server (restart, failover) must not crash the process;
  // the pool replaces it and the next query reports the outage.
  pool.on('error', () => {});
  // A client checked out between two queries (an open transaction, a group commit) gets no
  // pool listener: its 'error' on a server restart would be unhandled and kill the process.
  // The client is marked unusable and the pool discards it on release.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}
