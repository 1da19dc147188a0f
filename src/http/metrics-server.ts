import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type pino from 'pino';
import { metricsHttp } from '../observability/http.js';
import type { Config } from '../platform/config.js';
import type { DB } from '../platform/db/schema.js';
import type { MetricsJson } from '../platform/metrics.js';
import { registerErrorHandler } from './errors.js';
import { Health } from './health.js';

export interface MetricsServerParts {
  config: Config;
  log: pino.Logger;
  db: Kysely<DB>;
  metricSources: Array<() => Promise<MetricsJson>>;
}

/**
 * A worker-only process (`postier worker`) has no API, yet its counters (attempts, sent, failed,
 * SMTP replies, delivery latency) live in its memory: with WORKER_METRICS_PORT it serves
 * /metrics (same METRICS_TOKEN rule) and /healthz there, and nothing else.
 */
export async function startMetricsServer(s: MetricsServerParts, port: number): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: s.log as FastifyBaseLogger });
  registerErrorHandler(app);
  app.get('/healthz', { schema: { response: { 200: Health } } }, async () => ({ status: 'ok' }));
  await app.register(metricsHttp, {
    db: s.db,
    token: s.config.metricsToken,
    sources: s.metricSources,
    auth: s.config.apiAuth,
  });
  await app.listen({ host: s.config.host, port });
  return app;
}
