import type { Kysely } from 'kysely';
import type pino from 'pino';
import type { Config } from '../platform/config.js';
import { loadSecretKey } from '../platform/crypto/secret-key.js';
import { ContentSeal } from '../platform/crypto/sealed-content.js';
import { CommitQueue } from '../platform/db/commit-queue.js';
import { type Database, openDatabase } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import { OutboxSignal } from '../delivery/signal.js';
import { EventLog } from '../events/index.js';
import { countEvents } from '../observability/metrics-subscriber.js';

/**
 * What delivery needs and nothing more: configuration, the database, the content seal. The
 * delivery thread of `postier serve` opens only this, so it does not load the template engine,
 * the HTTP stack or the capture server (a third of a process's heap) a second time.
 */
export interface Core {
  config: Config;
  log: pino.Logger;
  database: Database;
  db: Kysely<DB>;
  commits: CommitQueue;
  /** Seals/opens the clear content of messages with sensitive variables (email_messages.sealed_content). */
  seal: ContentSeal;
  /** Rung when messages become due in this process (a worker here leases them at once). */
  outbox: OutboxSignal;
  /** The event log; the metrics subscriber counts what it records. */
  events: EventLog;
  close(): Promise<void>;
}

export function openCore(config: Config, log: pino.Logger, opts: { schema?: string; poolSize?: number } = {}): Core {
  const lockWaitMs = config.dbLockWaitSeconds * 1000;
  const events = new EventLog(log);
  events.subscribe('metrics', countEvents);
  const database = openDatabase(config.databaseUrl, { schema: opts.schema, poolSize: opts.poolSize, lockWaitMs });
  return {
    config,
    log,
    database,
    db: database.db,
    commits: new CommitQueue(database.db, database.dialect, { lockWaitMs }),
    seal: new ContentSeal(loadSecretKey(config, log)),
    outbox: new OutboxSignal(),
    events,
    close: () => database.close(),
  };
}
