import { type CaptureServer, startCaptureServer } from '../capture/server.js';
import { MimeCache } from '../delivery/mime.js';
import { DeliveryStore } from '../delivery/store.js';
import { createSmtpTransport, type SmtpTarget } from '../delivery/transport.js';
import { Worker, type WorkerOptions } from '../delivery/worker.js';
import type { Services } from '../services.js';

/**
 * With SMTP_HOST unset, mail goes to the embedded capture server. Any Postier process on this
 * host may start it; if another one already listens on the port, this one delivers there too.
 */
export async function startCaptureIfNeeded(s: Services): Promise<CaptureServer | null> {
  if (s.config.smtp.host) return null;
  try {
    const capture = await startCaptureServer(s.db, s.log, s.config.captureSmtpPort);
    s.log.warn(
      { port: capture.port },
      `SMTP_HOST is not set: mail is CAPTURED on 127.0.0.1:${capture.port}, NOT DELIVERED. Read it at GET /api/v1/dev/inbox; set SMTP_HOST to deliver for real.`,
    );
    return capture;
  } catch (e) {
    if ((e as { code?: string }).code !== 'EADDRINUSE') throw e;
    s.log.warn({ port: s.config.captureSmtpPort }, 'SMTP_HOST is not set and the capture port is taken (another Postier process?): mail is CAPTURED there, NOT DELIVERED');
    return null;
  }
}

export function smtpTarget(s: Services, capture: CaptureServer | null): SmtpTarget {
  if (s.config.smtp.host) return { host: s.config.smtp.host, port: s.config.smtp.port };
  return { host: '127.0.0.1', port: capture?.port ?? s.config.captureSmtpPort, plain: true };
}

/** Builds and starts the delivery worker over the shared services; the caller stops it. */
export function startWorker(s: Services, target: SmtpTarget, overrides: Partial<WorkerOptions> = {}): Worker {
  const { config } = s;
  const worker = new Worker(
    {
      store: new DeliveryStore(s.db, s.database.dialect, s.commits),
      transport: createSmtpTransport(config, target),
      mime: new MimeCache(s.db, MimeCache.senderOf(config), s.seal),
      log: s.log.child({ component: 'worker' }),
      signal: s.outbox,
    },
    {
      batchSize: config.worker.batchSize,
      concurrency: config.worker.concurrency,
      leaseMs: config.worker.leaseSeconds * 1000,
      pollMs: config.worker.pollMs,
      backoff: { baseMs: config.worker.retryBaseSeconds * 1000, maxMs: config.worker.retryMaxSeconds * 1000 },
      // Long enough for a send that already started to end or time out, short enough for a
      // container's stop grace period.
      drainMs: Math.min(config.smtp.timeoutSeconds * 1000 + 2000, 25_000),
      ...overrides,
    },
  );
  worker.start();
  s.log.info({ owner: worker.owner, smtp: `${target.host}:${target.port}` }, 'delivery worker started');
  return worker;
}
