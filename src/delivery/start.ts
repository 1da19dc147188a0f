import type { Kysely } from 'kysely';
import type pino from 'pino';
import type { EventLog } from '../events/index.js';
import type { Config } from '../platform/config.js';
import type { ContentSeal } from '../platform/crypto/sealed-content.js';
import type { CommitQueue } from '../platform/db/commit-queue.js';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import type { OutboxSignal } from './signal.js';
import { MimeCache } from './mime.js';
import { FailoverTransport } from './failover.js';
import { RelayMonitor } from './relay-status.js';
import { DeliveryStore, type DueCheck } from './store.js';
import { suppressionPolicy } from '../suppressions/index.js';
import { createSmtpTransport, type SmtpTarget, transportName } from './transport.js';
import { SuppressedRecipients } from './withheld.js';
import { WorkerHeartbeat } from '../platform/workers.js';
import { Worker, type WorkerOptions, workerId } from './worker.js';

/** What a delivery worker uses (the delivery thread opens only these). */
export interface DeliveryDeps {
  config: Config;
  log: pino.Logger;
  db: Kysely<DB>;
  dialect: Dialect;
  commits: CommitQueue;
  seal: ContentSeal;
  /** Rung by this process's send path: lease now rather than at the next poll. */
  outbox: OutboxSignal;
  events: EventLog;
  /** The VERP envelope sender of each message (BOUNCE_DOMAIN), built by the feedback feature. */
  returnPath?: (messageId: string) => string;
}

/** Where the worker delivers: SMTP_HOST, or the capture server when it is unset. */
export function smtpTarget(s: { config: Config }, capture: { port: number } | null): SmtpTarget {
  if (s.config.smtp.host) return { host: s.config.smtp.host, port: s.config.smtp.port };
  return { host: '127.0.0.1', port: capture?.port ?? s.config.captureSmtpPort, plain: true, capture: true };
}

/** SMTP_HOST then the fallback relays of SMTP_FALLBACK_URLS, named relay, relay-2, relay-3, … */
export function smtpTargets(s: { config: Config }, capture: { port: number } | null): SmtpTarget[] {
  const first = smtpTarget(s, capture);
  if (first.capture) return [first];
  return [
    first,
    ...s.config.smtp.fallbacks.map((f, i) => ({
      host: f.host,
      port: f.port,
      fallback: {
        name: `relay-${i + 2}`,
        security: f.security,
        auth: f.user === undefined ? undefined : { user: f.user, pass: f.password ?? '' },
      },
    })),
  ];
}

const loopbackHost = (host: string) =>
  host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);

/**
 * The relays (`host:port`) a password would go to in clear: SMTP_USE_TLS=false with a user, on
 * a host that is not this machine. Said at start-up, as Nodemailer sends AUTH over plain SMTP
 * without a word.
 */
export function clearPasswordRelays(config: Pick<Config, 'smtp'>): string[] {
  const { smtp } = config;
  const relays = [
    ...(smtp.host && !smtp.useTls && smtp.user !== undefined ? [{ host: smtp.host, port: smtp.port }] : []),
    ...smtp.fallbacks.filter((f) => f.security === 'none' && f.user !== undefined),
  ];
  return relays.filter((r) => !loopbackHost(r.host)).map((r) => `${r.host}:${r.port}`);
}

/**
 * The suppression list asked again when a scheduled message becomes due, by the accept path's own
 * policy. Whether its category was the template's (which may bypass a suppression for all mail)
 * or the caller's is not stored: a template send's category is taken as the template's.
 */
function dueSuppressions(config: Config): DueCheck {
  const policy = suppressionPolicy(config.email.suppressionBypassCategories);
  return async (trx, due, now) => {
    const items = due.map((m) => ({
      recipient: m.recipient_email,
      message: { class: m.class, category: m.category, locale: null, trustedCategory: m.template_key !== null },
    }));
    // The suppression policy judges a commit's recipients in one query (admitMany).
    const verdicts = await policy.admitMany!(trx, items, now);
    return verdicts.map((v) => (v.status === 'queued' ? null : (('reason' in v ? v.reason : undefined) ?? v.status)));
  };
}

/** One relay: its pool. Several: the failover transport over their pools. */
function deliveryTransport(config: Config, relays: Relay[], monitor: RelayMonitor, log: pino.Logger) {
  if (relays.length === 1) return createSmtpTransport(config, relays[0]!.target);
  return new FailoverTransport(
    relays.map((r) => ({ name: r.name, address: r.address, transport: createSmtpTransport(config, r.target) })),
    { cooldownMs: config.smtp.failoverCooldownSeconds * 1000, monitor, log },
  );
}

/** A target with the name and address its health and attempts are recorded under. */
interface Relay {
  target: SmtpTarget;
  name: string;
  address: string;
}

/**
 * Builds and starts the delivery worker from what it uses; the caller stops it. `target`: the
 * relay, or the relay and its fallbacks in order (smtpTargets).
 */
export function startWorker(
  s: DeliveryDeps,
  target: SmtpTarget | SmtpTarget[],
  overrides: Partial<WorkerOptions> = {},
): Worker {
  const { config } = s;
  const log = s.log.child({ component: 'worker' });
  const owner = overrides.owner ?? workerId();
  const relays: Relay[] = (Array.isArray(target) ? target : [target]).map((t) => ({
    target: t,
    name: transportName(t),
    address: `${t.host}:${t.port}`,
  }));
  const relay = new RelayMonitor(s.db, log, relays);
  relay.prune();
  const worker = new Worker(
    {
      store: new DeliveryStore(s.db, s.dialect, s.commits, s.events, dueSuppressions(config)),
      transport: deliveryTransport(config, relays, relay, log),
      mime: new MimeCache(s.db, MimeCache.senderOf(config, s.returnPath), s.seal),
      recipients: new SuppressedRecipients(s.db, config.email.suppressionBypassCategories),
      log,
      signal: s.outbox,
      relay,
      heartbeat: new WorkerHeartbeat(s.db, {
        id: owner,
        kind: 'delivery',
        heartbeatMs: config.worker.heartbeatSeconds * 1000,
        log,
      }),
    },
    {
      batchSize: config.worker.batchSize,
      concurrency: config.worker.concurrency,
      buildBudgetBytes: config.worker.buildBudgetBytes,
      leaseMs: config.worker.leaseSeconds * 1000,
      pollMs: config.worker.pollMs,
      backoff: { baseMs: config.worker.retryBaseSeconds * 1000, maxMs: config.worker.retryMaxSeconds * 1000 },
      relayProblemMaxMs: config.smtp.relayProblemMaxHours * 3_600_000,
      drainMs: config.worker.drainSeconds * 1000,
      deadAfterMs: config.worker.deadAfterSeconds * 1000,
      capture: relays[0]!.target.capture === true,
      ...overrides,
      owner,
    },
  );
  worker.start();
  s.log.info({ owner: worker.owner, smtp: relays.map((r) => r.address).join(', ') }, 'delivery worker started');
  const clear = relays[0]!.target.capture ? [] : clearPasswordRelays(config);
  if (clear.length > 0)
    s.log.warn(
      { relays: clear },
      'SMTP_USE_TLS=false: the relay password is sent in clear over the network; turn TLS on unless the path to the relay is private',
    );
  return worker;
}
