import type { Kysely } from 'kysely';
import type pino from 'pino';
import { OutboxSignal } from '../delivery/index.js';
import { EventLog } from '../events/index.js';
import { countEvents } from '../observability/index.js';
import type { Config } from '../platform/config.js';
import { loadSecretKey } from '../platform/crypto/secret-key.js';
import { ContentSeal } from '../platform/crypto/sealed-content.js';
import { CommitQueue } from '../platform/db/commit-queue.js';
import { type Database, type Dialect, openDatabase } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';

/**
 * What every process part stands on: configuration, log, the database and its commit queue, the
 * content seal, the outbox doorbell, the event log. The delivery thread of `postier serve` opens
 * only this and the delivery worker, so it does not load the template engine, the HTTP stack or
 * the capture server (a third of a process's heap) a second time.
 */
export interface Platform {
  config: Config;
  log: pino.Logger;
  database: Database;
  db: Kysely<DB>;
  dialect: Dialect;
  commits: CommitQueue;
  /** Seals/opens the clear content of messages with sensitive variables (email_messages.sealed_content). */
  seal: ContentSeal;
  /** Rung when messages become due in this process (a worker here leases them at once). */
  outbox: OutboxSignal;
  /** The event log; the metrics subscriber counts what it records. */
  events: EventLog;
  close(): Promise<void>;
}

export function openPlatform(
  config: Config,
  log: pino.Logger,
  opts: { schema?: string; poolSize?: number; lockTimeout?: boolean } = {},
): Platform {
  const lockWaitMs = config.dbLockWaitSeconds * 1000;
  const database = openDatabase(config.databaseUrl, {
    schema: opts.schema,
    // PostgreSQL: only when asked (the CLI); SQLite's budget below holds for every process.
    ...(opts.lockTimeout ? { lockTimeoutMs: lockWaitMs } : {}),
    poolSize: opts.poolSize ?? config.databasePoolSize,
    lockWaitMs,
    cacheMb: config.sqliteCacheMb,
    preparedStatements: config.databasePreparedStatements,
  });
  const events = new EventLog(log);
  events.subscribe('metrics', countEvents);
  return {
    config,
    log,
    database,
    db: database.db,
    dialect: database.dialect,
    commits: new CommitQueue(database.db, database.dialect, { lockWaitMs, syncing: database.walSyncing }),
    seal: new ContentSeal(loadSecretKey(config, log)),
    outbox: new OutboxSignal(),
    events,
    close: () => database.close(),
  };
}
