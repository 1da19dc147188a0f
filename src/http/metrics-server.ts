import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { registerErrorHandler } from './errors.js';
import type { Services } from '../app/wiring.js';
import { metricsRoutes } from '../observability/routes.js';

/**
 * A worker-only process (`postier worker`) has no API, yet its counters (attempts, sent, failed,
 * SMTP replies, delivery latency) live in its memory: with WORKER_METRICS_PORT it serves
 * /metrics (same METRICS_TOKEN rule) and /healthz there, and nothing else.
 */
export async function startMetricsServer(s: Services, port: number): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: s.log as FastifyBaseLogger });
  registerErrorHandler(app);
  app.get('/healthz', async () => ({ status: 'ok' }));
  metricsRoutes(app, s);
  await app.listen({ host: s.config.host, port });
  return app;
}
