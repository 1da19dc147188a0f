import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Kysely } from 'kysely';
import type pino from 'pino';
import { acceptHttp } from '../accept/http.js';
import { spoolHttp } from '../accept/submission/http.js';
import type { SendService } from '../accept/index.js';
import { captureHttp } from '../capture/http.js';
import { deliveryHttp } from '../delivery/http.js';
import {
  describeRelay,
  listRelayStatus,
  MimeCache,
  type OutboxSignal,
  smtpTargets,
  verifySmtp,
} from '../delivery/index.js';
import type { EventLog } from '../events/index.js';
import { feedbackHttp } from '../feedback/http.js';
import type { ProviderWebhooks, SnsReceiver } from '../feedback/index.js';
import { keysHttp } from '../keys/http.js';
import type { ApiKeyService } from '../keys/index.js';
import { messagesHttp } from '../messages/http.js';
import type { SearchIndex } from '../messages/index.js';
import { metricsHttp, readinessHttp, systemHttp } from '../observability/http.js';
import { databaseCheck, smtpCheck } from '../observability/index.js';
import { type CacheTimes, cached, SMTP_CHECK_CACHE } from '../observability/readiness.js';
import type { Config } from '../platform/config.js';
import { anonymizeAddress } from '../platform/crypto/anon-key.js';
import type { ContentSeal } from '../platform/crypto/sealed-content.js';
import type { CommitQueue } from '../platform/db/commit-queue.js';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import { proxyTrust } from '../platform/http/trusted-proxies.js';
import type { MetricsJson } from '../platform/metrics.js';
import { retentionHttp } from '../retention/http.js';
import { suppressionsHttp } from '../suppressions/http.js';
import { domainsHttp } from '../domains/http.js';
import type { DomainService } from '../domains/index.js';
import { trackingHttp } from '../tracking/http.js';
import { TrackingService, trackingKey } from '../tracking/index.js';
import { templatesHttp } from '../templates/http.js';
import type { TemplateAdmin, TemplateService } from '../templates/index.js';
import { unsubscribeHttp } from '../unsubscribe/http.js';
import { webhooksHttp } from '../webhooks/http.js';
import { registerAdminUi } from './admin-ui.js';
import { Health } from './health.js';
import { registerAuth } from './auth.js';
import { addServerErrorStatuses } from './error-statuses.js';
import { clientErrorHandler, frameworkErrors, registerErrorHandler } from './errors.js';
import { refuseNulInUrls, registerJsonBodies } from './json-body.js';
import { registerOpenApi } from './openapi.js';
import { checkResponses } from './response-check.js';
import { registerValidation } from './validation.js';

/** What the HTTP API is built from (the app's wiring provides it). */
export interface ServerParts {
  config: Config;
  log: pino.Logger;
  db: Kysely<DB>;
  dialect: Dialect;
  commits: CommitQueue;
  events: EventLog;
  /** SQLite: the search index, caught up by each search before it reads it; its state for the System page. */
  searchIndex: Pick<SearchIndex, 'catchUp' | 'state'>;
  outbox: OutboxSignal;
  apiKeys: ApiKeyService;
  templates: TemplateService;
  templateAdmin: TemplateAdmin;
  send: SendService;
  sns: SnsReceiver;
  providers: ProviderWebhooks;
  /** Rung when reports are set back to pending (re-classify). */
  feedbackPending: OutboxSignal;
  /** This process's webhook dispatcher, rung when a delivery is made due from the API. */
  webhooks?: { ring(): void };
  unsubscribeKey: Buffer;
  /** Seals and opens clear content (delivery's MimeCache takes it; the checks never open it). */
  seal: ContentSeal;
  /** The VERP envelope sender of each message (BOUNCE_DOMAIN): the spam check builds mail as delivery does. */
  returnPath: ((messageId: string) => string) | undefined;
  /** The domain of our Message-IDs. */
  messageIdDomain: string;
  /** Counters kept elsewhere in this process or cluster, merged into GET /metrics. */
  metricSources: Array<() => Promise<MetricsJson>>;
  /** The sending domains and their DNS checks. */
  domains: DomainService;
}

export interface BuildOptions {
  /** Check every JSON answer against its response schema (tests: see response-check.ts). */
  checkResponses?: boolean;
  /** True once the process is stopping (SIGTERM): /readyz answers 503, responses close their connection. */
  stopping?: () => boolean;
  /** How long /readyz reuses the smtp check's verdict (SMTP_CHECK_CACHE; tests shorten it). */
  smtpCheckCache?: CacheTimes;
  /** Failed bearer tokens: the delay added to each 401 per failure (500 ms) and the clients remembered (10,000). */
  auth?: { delayStepMs?: number; maxTracked?: number };
  /**
   * The capture server this process started (SMTP_HOST unset): /readyz and the system page check
   * the port it listens on, which CAPTURE_SMTP_PORT=0 leaves to the system to choose.
   */
  capture?: { port: number } | null;
}

/**
 * The Content-Security-Policy of every answer that has none of its own: the API's JSON, its
 * errors, the public unsubscribe pages (which share the admin UI's origin). Nothing may be
 * loaded or run, only the page's own inline styles; its forms post to this origin only; no other
 * site may frame it (clickjacking an unsubscribe button).
 */
export const DEFAULT_CSP = [
  "default-src 'none'",
  "style-src 'unsafe-inline'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The HTTP API: the server's own parts (auth, errors, bodies, validation, OpenAPI), then every feature's plugin. */
export async function buildApp(s: ServerParts, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const { config, db } = s;
  const trusted = proxyTrust(config.trustProxy);
  const app = Fastify({
    loggerInstance: s.log as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    // A log line per request costs more than the request at thousands per second; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Ids in logs tie a request to the messages it created.
    requestIdHeader: false,
    // A tracked link's token carries the link (tracking/token.ts): up to 12,100 characters. Every
    // route's schema bounds its own parameters; the router's default of 100 refused those links.
    routerOptions: { maxParamLength: 12_100 },
    // The router's and Node's parser's own refusals, in the API's error shape (errors.ts).
    frameworkErrors,
    clientErrorHandler,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // While closing, a request that still arrives on an open connection is served (with
    // Connection: close), not refused: it was sent before the client could know, and a 503 would
    // fail it. New connections are refused by the closed listener.
    return503OnClosing: false,
    // request.ip: the address nearest the client that is not a trusted proxy (TRUST_PROXY), by
    // X-Forwarded-For; failed bearer tokens are counted by it (auth.ts).
    trustProxy: (address: string) => trusted(address),
  });
  const stopping = opts.stopping ?? (() => false);
  app.addHook('onSend', async (_request, reply) => {
    // From SIGTERM on, every answer closes its connection: keep-alive clients reconnect, through
    // their load balancer, to a process that is staying.
    if (stopping()) reply.header('connection', 'close');
    // Every answer that sets none of its own (the admin UI and /docs do) is never sniffed into
    // something else, framed, or allowed to load anything: see DEFAULT_CSP.
    if (!reply.hasHeader('x-content-type-options')) reply.header('x-content-type-options', 'nosniff');
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', DEFAULT_CSP);
  });

  registerJsonBodies(app);
  refuseNulInUrls(app);
  registerValidation(app);
  registerErrorHandler(app);
  registerAuth(app, s.apiKeys, {
    maxFailures: config.apiAuth.maxFailures,
    lockoutSeconds: config.apiAuth.lockoutSeconds,
    trusted,
    log: s.log,
    ...opts.auth,
  });
  if (opts.checkResponses) checkResponses(app);
  // Before every route, in this order: the error statuses are added, then the OpenAPI document
  // collects each route as it is added.
  addServerErrorStatuses(app);
  await registerOpenApi(app, config.publicUrl);

  const health = {
    config: { auth: 'public' as const },
    schema: { summary: 'Liveness: the process answers', response: { 200: Health } },
  };
  app.get('/healthz', health, async () => ({ status: 'ok' as const }));
  // The database check is cheap and local: live. The smtp check logs in to the relay, and /readyz
  // is public: its verdict is reused for a while and shared by concurrent requests.
  const capture = opts.capture ?? null;
  const checks = [
    databaseCheck(db),
    cached(
      smtpCheck(() => verifySmtp(config, smtpTargets(s, capture))),
      opts.smtpCheckCache ?? SMTP_CHECK_CACHE,
    ),
  ];
  await app.register(readinessHttp, { checks, stopping });
  await app.register(metricsHttp, {
    db,
    token: config.metricsToken,
    sources: s.metricSources,
    auth: { ...config.apiAuth, ...opts.auth },
    trusted,
  });

  // Every feature's routes, each in its own plugin with exactly what it uses.
  await app.register(acceptHttp, { send: s.send, db });
  // The spam check scores an archived message as delivery would build it: its own small cache.
  const checkMime = new MimeCache(db, MimeCache.senderOf(config, s.returnPath), s.seal, 8 * 1024 * 1024);
  await app.register(messagesHttp, {
    db,
    dialect: s.dialect,
    events: s.events,
    from: `${config.smtp.fromName} <${config.smtp.fromEmail}>`,
    fromEmail: config.smtp.fromEmail,
    hashAddress: (address) => anonymizeAddress(config, address),
    searchIndex: s.searchIndex,
    resend: { db, events: s.events, templates: s.templates, send: s.send, messageIdDomain: s.messageIdDomain },
    checks: { spamd: config.spamd, mime: (message) => checkMime.get(message) },
    tracking: { opens: config.tracking.opens, clicks: config.tracking.clicks },
  });
  await app.register(templatesHttp, {
    templates: s.templates,
    admin: s.templateAdmin,
    testSend: (request, opts) => s.send.send(request, opts),
    defaultLocale: config.email.defaultLocale,
  });
  await app.register(deliveryHttp, { db, commits: s.commits, events: s.events, outbox: s.outbox });
  await app.register(keysHttp, { keys: s.apiKeys });
  await app.register(suppressionsHttp, { db });
  await app.register(domainsHttp, { domains: s.domains });
  await app.register(trackingHttp, {
    tracking: new TrackingService(db, s.commits, s.events),
    key: trackingKey(config),
  });
  await app.register(unsubscribeHttp, { db, key: s.unsubscribeKey, brand: config.brand.name });
  await app.register(webhooksHttp, { db, ring: () => s.webhooks?.ring() });
  await app.register(feedbackHttp, {
    sns: s.sns,
    providers: s.providers,
    db,
    config,
    onPending: () => s.feedbackPending.notify(),
  });
  await app.register(retentionHttp, { db, dialect: s.dialect, config, events: s.events });
  await app.register(captureHttp, {
    db,
    spamd: config.spamd,
    isAdmin: async (token) => (await s.apiKeys.authenticate(token))?.scope === 'admin',
  });
  await app.register(systemHttp, {
    config,
    db,
    searchIndex: s.searchIndex,
    checks,
    transports: () => listRelayStatus(db),
    relays: smtpTargets(s, capture).map((t) => describeRelay(config, t)),
  });
  await app.register(spoolHttp, { db });
  await registerAdminUi(app);

  await app.ready();
  return app;
}
