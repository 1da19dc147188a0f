import type { Kysely } from 'kysely';
import type pino from 'pino';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { ApiKeyService } from './api-keys/service.js';
import type { Config } from './config.js';
import { loadSecretKey } from './crypto/secret-key.js';
import { ContentSeal } from './crypto/sealed-content.js';
import { CommitQueue } from './db/commit-queue.js';
import { type Database, openDatabase } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { OutboxSignal } from './delivery/signal.js';
import type { DB } from './db/schema.js';
import { SendService } from './messages/send.service.js';
import { installPolicy, type Policy } from './policy/index.js';
import { readLayouts } from './templates/layouts.js';
import { LAYOUTS_DIR } from './templates/paths.js';
import { TemplateAdmin } from './templates/admin.service.js';
import { seedDefaultTemplates } from './templates/seed.js';
import { TemplateService } from './templates/service.js';

/** Everything the HTTP app, the worker and the CLI share: built once, passed down. */
export interface Services {
  config: Config;
  log: pino.Logger;
  database: Database;
  db: Kysely<DB>;
  commits: CommitQueue;
  apiKeys: ApiKeyService;
  templates: TemplateService;
  templateAdmin: TemplateAdmin;
  /** Seals/opens the clear content of messages with sensitive variables (email_messages.sealed_content). */
  seal: ContentSeal;
  send: SendService;
  policy: Policy;
  /** Rung when messages become due in this process (a worker here leases them at once). */
  outbox: OutboxSignal;
  /** Counters kept elsewhere in this process (the delivery thread), merged into GET /metrics. */
  metricSources: Array<() => Promise<MetricObjectWithValues<MetricValue<string>>[]>>;
  close(): Promise<void>;
}

export interface CreateServicesOptions {
  /** Apply migrations and seed default templates (start-up does; `postier keys` does too). */
  migrate?: boolean;
  /** PostgreSQL schema (tests isolate each file in its own). */
  schema?: string;
}

export async function createServices(config: Config, log: pino.Logger, opts: CreateServicesOptions = {}): Promise<Services> {
  const database = openDatabase(config.databaseUrl, { schema: opts.schema });
  const { db } = database;
  if (opts.migrate ?? true) {
    const applied = await migrateToLatest(db, opts.schema);
    if (applied.length) log.info({ migrations: applied }, 'migrations applied');
    const seeded = await seedDefaultTemplates(db);
    if (seeded.length) log.info({ templates: seeded }, 'default templates seeded');
  }
  const commits = new CommitQueue(db, database.dialect);
  const templates = new TemplateService(db, config, readLayouts(LAYOUTS_DIR));
  const seal = new ContentSeal(loadSecretKey(config, log));
  const send = new SendService(db, commits, templates, config, seal);
  const policy = installPolicy(db, database.dialect, config, log, send);
  const outbox = new OutboxSignal();
  send.onQueued(() => outbox.notify());
  return {
    config,
    log,
    database,
    db,
    commits,
    apiKeys: new ApiKeyService(db, config),
    templates,
    templateAdmin: new TemplateAdmin(db, templates, config),
    seal,
    send,
    policy,
    outbox,
    metricSources: [],
    close: () => database.close(),
  };
}
