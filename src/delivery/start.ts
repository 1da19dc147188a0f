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
import { RelayMonitor } from './relay-status.js';
import { DeliveryStore } from './store.js';
import { createSmtpTransport, type SmtpTarget, transportName } from './transport.js';
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

/** Builds and starts the delivery worker from what it uses; the caller stops it. */
export function startWorker(s: DeliveryDeps, target: SmtpTarget, overrides: Partial<WorkerOptions> = {}): Worker {
  const { config } = s;
  const log = s.log.child({ component: 'worker' });
  const owner = overrides.owner ?? workerId();
  const worker = new Worker(
    {
      store: new DeliveryStore(s.db, s.dialect, s.commits, s.events),
      transport: createSmtpTransport(config, target),
      mime: new MimeCache(s.db, MimeCache.senderOf(config, s.returnPath), s.seal),
      log,
      signal: s.outbox,
      relay: new RelayMonitor(s.db, log, transportName(target), `${target.host}:${target.port}`),
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
      capture: target.capture === true,
      ...overrides,
      owner,
    },
  );
  worker.start();
  s.log.info({ owner: worker.owner, smtp: `${target.host}:${target.port}` }, 'delivery worker started');
  return worker;
}
