import type { FastifyInstance } from 'fastify';
import type { CaptureServer } from '../capture/server.js';
import type { Worker } from '../delivery/worker.js';
import { buildApp } from '../http/app.js';
import { startMetricsServer } from '../observability/metrics-server.js';
import { type RetentionScheduler, startRetentionScheduler } from '../retention/scheduler.js';
import type { Services } from '../services.js';
import { smtpTarget, startCaptureIfNeeded, startWorker } from './worker.js';

/** First start with no admin credential at all: create one admin key and show it once. */
export async function ensureAdminKey(s: Services): Promise<void> {
  if (s.config.adminToken || (await s.apiKeys.countActive()) > 0) return;
  const { token } = await s.apiKeys.create('initial admin', 'admin', 'system');
  process.stdout.write(
    `\n  No API key existed, so an admin key was created. It is shown this once:\n\n    ${token}\n\n` +
      `  Use it as "Authorization: Bearer <token>"; create more with \`postier keys create\`.\n\n`,
  );
}

export interface Running {
  app: FastifyInstance | null;
  worker: Worker | null;
  capture: CaptureServer | null;
  metrics: FastifyInstance | null;
  stop(): Promise<void>;
}

/** API and/or worker in this process; the capture server too when SMTP_HOST is unset. */
export async function serve(s: Services, opts: { api: boolean; worker?: boolean; retention?: boolean }): Promise<Running> {
  let app: FastifyInstance | null = null;
  // Retention runs in every process that asks for it; a lock row lets one run each job at a time.
  const retention: RetentionScheduler | null = (opts.retention ?? true) ? startRetentionScheduler(s) : null;
  const capture = await startCaptureIfNeeded(s);
  const worker = opts.worker ? startWorker(s, smtpTarget(s, capture)) : null;
  if (opts.api) {
    await ensureAdminKey(s);
    app = await buildApp(s);
    await app.listen({ host: s.config.host, port: s.config.port });
    s.log.info({ url: `http://${s.config.host}:${s.config.port}` }, 'Postier API listening');
  }
  // A worker-only process exposes its own counters when asked (the API serves them otherwise).
  const metrics = !opts.api && s.config.worker.metricsPort !== undefined ? await startMetricsServer(s, s.config.worker.metricsPort) : null;
  // Outbound webhooks go out from every serving process; deliveries are claimed one by one.
  s.policy.webhooks.start();
  return {
    app,
    worker,
    capture,
    metrics,
    async stop() {
      // API first (no new work accepted), then the worker drains (its last events may queue
      // webhooks), then the background jobs, then capture stops receiving.
      if (app) await app.close();
      if (worker) await worker.stop();
      if (metrics) await metrics.close();
      await s.policy.webhooks.stop();
      await retention?.stop();
      if (capture) await capture.close();
    },
  };
}
