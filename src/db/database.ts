import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { CompiledQuery, type DatabaseConnection, type Driver, Kysely, PostgresDialect, SqliteDialect, SqliteDriver } from 'kysely';
import pg from 'pg';
import type { DB } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Database {
  db: Kysely<DB>;
  dialect: Dialect;
  close(): Promise<void>;
}

// int8 (bigint, count(*)) arrives as a string by default; every bigint here is an epoch-ms time,
// a count or an id, all far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export interface OpenOptions {
  /** PostgreSQL: connections in the pool. */
  poolSize?: number;
  /** PostgreSQL: schema to use (tests give each file its own). */
  schema?: string;
}

export function openDatabase(url: string, options: OpenOptions = {}): Database {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length));
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, options);
  throw new Error(`Unsupported DATABASE_URL: ${url}`);
}

function openSqlite(file: string): Database {
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  // FULL: a commit is on disk before the API answers 201 (accepted means durable).
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  // Several processes (API, workers) may share the file: wait for the write lock, don't fail.
  sqlite.pragma('busy_timeout = 10000');
  const db = new Kysely<DB>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }) });
  return { db, dialect: 'sqlite', close: () => db.destroy() };
}

/**
 * Transactions take SQLite's write lock when they begin (BEGIN IMMEDIATE). A deferred
 * transaction that reads first (policy checks, leasing) and writes later cannot wait for the
 * lock when another process wrote meanwhile: SQLite fails it at once with SQLITE_BUSY instead
 * of honouring busy_timeout. Taking the lock up front makes concurrent processes queue.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver() as SqliteDriver;
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
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
  const pool = new pg.Pool({
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
