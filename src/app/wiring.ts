import { DomainService, dnsLookup } from '../domains/index.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type pino from 'pino';
import { messageIdDomain, type SendService } from '../accept/index.js';
import { ContentStore } from '../content/index.js';
import { OutboxSignal } from '../delivery/index.js';
import { ProviderWebhooks, returnPathFor, SnsReceiver } from '../feedback/index.js';
import { ApiKeyService } from '../keys/index.js';
import type { Config } from '../platform/config.js';
import { migrateToLatest } from '../platform/db/migrate.js';
import type { MetricsJson } from '../platform/metrics.js';
import { SearchIndex } from '../messages/index.js';
import { LAYOUTS_DIR, readLayouts, seedDefaultTemplates, TemplateAdmin, TemplateService } from '../templates/index.js';
import { unsubscribeKey } from '../unsubscribe/index.js';
import { isSubscribable, WebhookDispatcher } from '../webhooks/index.js';
import { openPlatform, type Platform } from './platform.js';
import { sendServiceOf } from './send-service.js';

/**
 * Every part of Postier, built once with what each uses and passed down to the processes (serve,
 * worker, CLI) and to tests. Features never see this object: each got its own dependencies.
 */
export interface Wired extends Platform {
  apiKeys: ApiKeyService;
  templates: TemplateService;
  templateAdmin: TemplateAdmin;
  send: SendService;
  /** Attachment contents, stored once each (its writer thread is stopped by close()). */
  content: ContentStore;
  /** Outbound webhooks: enqueued from the event log, delivered, retried (started by serve). */
  webhooks: WebhookDispatcher;
  /** Amazon SES feedback through SNS. */
  sns: SnsReceiver;
  /** Postmark, Mailgun, SendGrid and Brevo webhooks. */
  providers: ProviderWebhooks;
  /** The VERP envelope sender of each message (BOUNCE_DOMAIN), for the delivery worker. */
  returnPath: ((messageId: string) => string) | undefined;
  /** Rung when feedback reports were stored in this process: its processor (if any) looks at once. */
  feedbackPending: OutboxSignal;
  unsubscribeKey: Buffer;
  /** The domain of our Message-IDs (SMTP_FROM_EMAIL's). */
  messageIdDomain: string;
  /** SQLite: the search index, filled after each commit (searches catch it up; serve runs its job). */
  searchIndex: SearchIndex;
  /** Counters kept elsewhere in this process (the delivery thread), merged into GET /metrics. */
  metricSources: Array<() => Promise<MetricsJson>>;
  /** The sending domains and their DNS checks (serve checks them every DOMAIN_CHECK_HOURS). */
  domains: DomainService;
}

export interface WireOptions {
  /** Apply migrations and seed default templates (start-up does; `postier keys` does too). */
  migrate?: boolean;
  /** PostgreSQL schema (tests isolate each file in its own). */
  schema?: string;
  /**
   * PostgreSQL: a lock another session holds is waited for DB_LOCK_WAIT_SECONDS at most
   * (lock_timeout), as SQLite's write lock always is. The operator's commands (`postier keys`,
   * `templates`, `spool`) set it; the server's processes do not.
   */
  lockTimeout?: boolean;
}

export async function wire(config: Config, log: pino.Logger, opts: WireOptions = {}): Promise<Wired> {
  const platform = openPlatform(config, log, { schema: opts.schema, lockTimeout: opts.lockTimeout });
  const { db, database, dialect, commits, outbox, events } = platform;
  if (opts.migrate ?? true) {
    const applied = await migrateToLatest(db, opts.schema, dialect);
    if (applied.length) log.info({ migrations: applied }, 'migrations applied');
    const seeded = await seedDefaultTemplates(db);
    if (seeded.length) log.info({ templates: seeded }, 'default templates seeded');
  }
  const templates = new TemplateService(
    db,
    { timeZone: config.email.timezone, brand: config.brand },
    readLayouts(LAYOUTS_DIR),
  );
  const content = ContentStore.open(database, config.databaseUrl);
  const key = unsubscribeKey(config);
  const domain = messageIdDomain(config.smtp.fromEmail);
  const domains = new DomainService(db, config, dnsLookup(config.dnsServers), log.child({ component: 'domains' }));
  // DOMAIN_VERIFICATION=enforce: sends check a From domain against what this process last read of
  // the checks (at start, then every 30 s; at once after a check made here).
  const enforce = config.domainVerification === 'enforce';
  const refreshDomains = () =>
    domains.refresh().catch((err: unknown) => log.error({ err }, 'could not read the sending domains’ checks'));
  if (enforce) await refreshDomains();
  const domainRefresh = enforce ? setInterval(refreshDomains, 30_000).unref() : null;
  const send = sendServiceOf(platform, {
    templates,
    content,
    unsubscribeKey: key,
    ...(enforce ? { domainVerified: (d: string) => domains.isVerified(d) } : {}),
  });
  send.onQueued(() => outbox.notify());

  const webhooks = new WebhookDispatcher(db, dialect, config.outboundWebhooks, log, {
    owner: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
  });
  // Events recorded here ring the dispatcher of this process; the others find them by polling.
  events.subscribe('webhooks', (recorded) => {
    if (recorded.some((e) => isSubscribable(e.type))) webhooks.ring();
  });

  return {
    ...platform,
    apiKeys: new ApiKeyService(db, config.adminToken),
    templates,
    templateAdmin: new TemplateAdmin(db, templates, config),
    send,
    content,
    webhooks,
    sns: new SnsReceiver(db, events, config, log),
    providers: new ProviderWebhooks(db, events, config, log),
    returnPath: returnPathFor(config),
    feedbackPending: new OutboxSignal(),
    unsubscribeKey: key,
    messageIdDomain: domain,
    searchIndex: new SearchIndex({ db, commits, dialect, log: log.child({ component: 'search-index' }) }),
    metricSources: [],
    domains,
    async close() {
      if (domainRefresh) clearInterval(domainRefresh);
      await content.close();
      await platform.close();
    },
  };
}
