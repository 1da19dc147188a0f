import { mkdirSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import SQLite from './better-sqlite3.js';
import { Kysely, type PostgresCursor, type PostgresPool, type PostgresPoolClient } from 'kysely';
import { PostierPostgresDialect } from './postgres-dialect.js';
import { isRead, PREPARED_READ } from './reused-sql.js';
import type pg from 'pg';
import { PostierSqliteDialect } from './sqlite-dialect.js';
import { WalSync } from './wal-sync.js';
import type { DB } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Database {
  db: Kysely<DB>;
  dialect: Dialect;
  /** SQLite on a file: the WAL fsync in flight, if one is (see WalSync.inFlight). */
  walSyncing?(): Promise<void> | null;
  close(): Promise<void>;
}

// pg is loaded only for a PostgreSQL URL: a SQLite deployment (and each of its threads) does not
// carry it (3 MB of heap per isolate).
const require = createRequire(import.meta.url);

export interface OpenOptions {
  /** PostgreSQL: connections in the pool. */
  poolSize?: number;
  /** PostgreSQL: writes as named prepared statements (see withNamedStatements; default true). */
  preparedStatements?: boolean;
  /** PostgreSQL: schema to use (tests give each file its own). */
  schema?: string;
  /**
   * SQLite: how long a query or transaction may wait, from the moment it asked, for another
   * connection's write lock before SQLITE_BUSY (DB_LOCK_WAIT_SECONDS; default 10 s).
   */
  lockWaitMs?: number;
  /**
   * PostgreSQL: each connection's lock_timeout, so a statement waiting for a lock another session
   * holds fails (SQLSTATE 55P03) rather than waiting as long as that session keeps it. The CLI's
   * commands set it (DB_LOCK_WAIT_SECONDS); absent, as for the server's processes, none is set.
   */
  lockTimeoutMs?: number;
  /** SQLite: the WAL fsync (tests observe it). */
  walFsync?: (handle: FileHandle) => Promise<void>;
  /** SQLite: the connection's page cache, MiB (SQLITE_CACHE_MB; better-sqlite3's own default is 16). */
  cacheMb?: number;
}

/** SQLite's lock budget when none is given (DB_LOCK_WAIT_SECONDS). */
export const DEFAULT_LOCK_WAIT_MS = 10_000;

/**
 * An in-memory SQLite database (`sqlite::memory:`, as tests and trials use) exists in one
 * connection only: a thread or process that opens the same URL gets an empty database of its own.
 */
export const inOneConnectionOnly = (databaseUrl: string): boolean => databaseUrl === 'sqlite::memory:';

/** The application_name of this process's PostgreSQL connections (unless DATABASE_URL sets one). */
export const POSTGRES_APPLICATION_NAME = `postier ${process.pid}`;

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
  // SqliteConnection): refuse to run rather than fail sends under load.
  if (file !== ':memory:' && mode !== 'wal') {
    sqlite.close();
    throw new Error(`SQLite could not put ${file} in WAL mode (journal_mode is ${mode}); use a local filesystem`);
  }
  // A commit is on disk before its caller goes on (the API answers 201 only then): on a file, the
  // connection fsyncs the WAL itself, off the event loop (WalSync); in memory there is no disk.
  const wal = file === ':memory:' ? null : new WalSync(`${path.resolve(file)}-wal`, options.walFsync);
  sqlite.pragma(wal ? 'synchronous = NORMAL' : 'synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  // Each message inserted touches a leaf of every index of email_messages and of the search
  // index, at random places: once those outgrow the cache, every insert reads pages back.
  if (options.cacheMb !== undefined) sqlite.pragma(`cache_size = ${-Math.round(options.cacheMb * 1024)}`);
  // Several connections (the API, the worker thread, other processes) share the file. Waiting for
  // the write lock is done by SqliteConnection, off the event loop, not by SQLite's sleeps.
  sqlite.pragma('busy_timeout = 0');
  const db = new Kysely<DB>({
    dialect: new PostierSqliteDialect({ sqlite, lockWaitMs: options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS, wal }),
  });
  return {
    db,
    dialect: 'sqlite',
    walSyncing: () => wal?.inFlight() ?? null,
    async close() {
      await db.destroy();
      await wal?.close();
    },
  };
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
    // Names Postier's connections in pg_stat_activity (the connection budget counts the others).
    ...(/[?&]application_name=/.test(url) ? {} : { application_name: POSTGRES_APPLICATION_NAME }),
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    // A startup parameter (not a SET), so it holds on every connection of the pool from its first query.
    ...(options.lockTimeoutMs !== undefined ? { lock_timeout: Math.max(1, Math.round(options.lockTimeoutMs)) } : {}),
  });
  // An idle client losing its server (restart, failover) must not crash the process;
  // the pool replaces it and the next query reports the outage.
  pool.on('error', () => {});
  // A client checked out between two queries (an open transaction, a group commit) gets no
  // pool listener: its 'error' on a server restart would be unhandled and kill the process.
  // The client is marked unusable and the pool discards it on release.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<DB>({
    dialect: new PostierPostgresDialect({
      pool: options.preparedStatements === false ? pool : withNamedStatements(pool),
    }),
  });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

/**
 * PostgreSQL parses and plans an unnamed statement at every execution. Writes (the accept's
 * inserts, the lease, the completions) and the reads marked PREPARED_READ (by key: a template, a
 * recipient's suppressions, a message and its body) are sent as named (prepared) statements
 * instead, which each connection parses once and PostgreSQL may plan once: they are few, fixed,
 * and go by key. Other reads stay unnamed: a search's plan depends on its pattern (a generic plan
 * cannot see whether a trigram index pays). Past NAMED_STATEMENTS distinct texts in a process
 * (multi-row inserts of unusual sizes), statements stay unnamed, so no connection holds an
 * unbounded set.
 * A prepared statement outlives a migration made by another process: one that returns whole rows
 * then fails once with "cached plan must not change result type" (before it ran), and its text
 * gets a new name, prepared afresh. Outside a transaction it is run again at once under that name;
 * inside one the transaction is aborted, and the caller's retry runs it. PgBouncer in transaction
 * mode needs max_prepared_statements (1.21+), or DATABASE_PREPARED_STATEMENTS=false.
 */
const NAMED_STATEMENTS = 400;

/**
 * PostgreSQL's refusal of a statement prepared before a migration changed the rows it returns
 * (see withNamedStatements): it did not run, and runs once prepared afresh.
 */
export function refusedAfterMigration(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  return e.code === '0A000' && /cached plan must not change result type/.test(String(e.message));
}

/** What Kysely sends to open and to end a transaction (a savepoint's rollback ends none). */
const TRANSACTION_BEGINS = /^\s*(begin|start transaction)\b/i;
const TRANSACTION_ENDS = /^\s*(commit|rollback)\s*$/i;

function withNamedStatements(pool: pg.Pool): PostgresPool {
  const names = new Map<string, string>();
  let made = 0;
  const nameFor = (text: string) => {
    if (!text.startsWith(PREPARED_READ) && isRead(text)) return undefined;
    let name = names.get(text);
    if (name === undefined && names.size < NAMED_STATEMENTS) {
      name = `postier_${made++}`;
      names.set(text, name);
    }
    return name;
  };
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      let inTransaction = false;
      const run = (text: string, values: unknown[] | undefined, again: boolean): Promise<unknown> =>
        client.query({ name: nameFor(text), text, values }).catch((error: unknown) => {
          // feature_not_supported: the table changed under a prepared statement (a migration).
          if ((error as { code?: unknown }).code !== '0A000') throw error;
          names.delete(text);
          // Refused before it ran: run again, prepared afresh, unless a transaction it aborted holds it.
          if (!refusedAfterMigration(error) || inTransaction || !again) throw error;
          return run(text, values, false);
        });
      return {
        query(sqlOrCursor: string | PostgresCursor<unknown>, parameters?: ReadonlyArray<unknown>) {
          if (typeof sqlOrCursor !== 'string') return client.query(sqlOrCursor as never);
          const text = sqlOrCursor;
          if (TRANSACTION_BEGINS.test(text)) inTransaction = true;
          else if (TRANSACTION_ENDS.test(text)) inTransaction = false;
          return run(text, parameters as unknown[] | undefined, true);
        },
        release: () => client.release(),
      } as unknown as PostgresPoolClient;
    },
    end: () => pool.end(),
  };
}
