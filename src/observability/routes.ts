import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../app/wiring.js';
import { AppError } from '../platform/errors.js';
import { acceptLatency, metricsText, queueDepth, queueOldestAge, registry } from '../platform/metrics.js';

const ACCEPT_ROUTE = '/api/v1/email/send';

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Queue gauges are read from the database at scrape time: true across every worker process. */
async function refreshQueueGauges(s: Services, now: number): Promise<void> {
  const row = await s.db
    .selectFrom('email_messages')
    .select((eb) => [eb.fn.countAll<number>().as('depth'), eb.fn.min<number | null>('created_at').as('oldest')])
    .where('status', 'in', ['queued', 'sending'])
    .executeTakeFirstOrThrow();
  queueDepth.set(Number(row.depth));
  queueOldestAge.set(row.oldest === null ? 0 : Math.max(0, now - Number(row.oldest)) / 1000);
}

/**
 * GET /metrics in the Prometheus text format. Public unless METRICS_TOKEN is set, then it wants
 * `Authorization: Bearer <METRICS_TOKEN>` (a scrape-only secret, not an API key).
 */
export function metricsRoutes(app: FastifyInstance, s: Services): void {
  app.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.url === ACCEPT_ROUTE && reply.statusCode === 201) acceptLatency.observe(reply.elapsedTime / 1000);
  });
  app.get('/metrics', { config: { auth: 'public' }, schema: { summary: 'Prometheus metrics', hide: true } }, async (request, reply) => {
    if (s.config.metricsToken && !tokenMatches(request.headers.authorization, s.config.metricsToken)) {
      throw new AppError('unauthorized', 'GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`');
    }
    await refreshQueueGauges(s, Date.now());
    return reply.header('content-type', registry.contentType).send(await metricsText(s.metricSources));
  });
}
