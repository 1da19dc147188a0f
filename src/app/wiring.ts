import type pino from 'pino';
import { ApiKeyService } from '../keys/service.js';
import type { Config } from '../platform/config.js';
import { ContentStore } from '../content/store.js';
import { type Core, openCore } from './platform.js';
import { migrateToLatest } from '../platform/db/migrate.js';
import type { MetricsJson } from '../platform/metrics.js';
import { SendService } from '../accept/send.service.js';
import { installPolicy, type Policy } from './policy.js';
import { readLayouts } from '../templates/layouts.js';
import { LAYOUTS_DIR } from '../templates/paths.js';
import { TemplateAdmin } from '../templates/admin.service.js';
import { seedDefaultTemplates } from '../templates/seed.js';
import { TemplateService } from '../templates/service.js';

/** Everything the HTTP app, the worker and the CLI share: built once, passed down. */
export interface Services extends Core {
  apiKeys: ApiKeyService;
  templates: TemplateService;
  templateAdmin: TemplateAdmin;
  send: SendService;
  /** Attachment contents, stored once each (its writer thread is stopped by close()). */
  content: ContentStore;
  policy: Policy;
  /** Counters kept elsewhere in this process (the delivery thread), merged into GET /metrics. */
  metricSources: Array<() => Promise<MetricsJson>>;
}

export interface CreateServicesOptions {
  /** Apply migrations and seed default templates (start-up does; `postier keys` does too). */
  migrate?: boolean;
  /** PostgreSQL schema (tests isolate each file in its own). */
  schema?: string;
}

export async function createServices(config: Config, log: pino.Logger, opts: CreateServicesOptions = {}): Promise<Services> {
  const core = openCore(config, log, { schema: opts.schema });
  const { db, database, commits, seal, outbox } = core;
  if (opts.migrate ?? true) {
    const applied = await migrateToLatest(db, opts.schema);
    if (applied.length) log.info({ migrations: applied }, 'migrations applied');
    const seeded = await seedDefaultTemplates(db);
    if (seeded.length) log.info({ templates: seeded }, 'default templates seeded');
  }
  const templates = new TemplateService(db, config, readLayouts(LAYOUTS_DIR));
  const content = ContentStore.open(database, config.databaseUrl);
  const send = new SendService(db, commits, templates, config, seal, content, core.events);
  const policy = installPolicy(db, database.dialect, config, log, send, core.events);
  send.onQueued(() => outbox.notify());
  return {
    ...core,
    apiKeys: new ApiKeyService(db, config),
    templates,
    templateAdmin: new TemplateAdmin(db, templates, config),
    send,
    content,
    policy,
    metricSources: [],
    async close() {
      await content.close();
      await core.close();
    },
  };
}
