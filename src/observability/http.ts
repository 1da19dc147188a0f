import { timingSafeEqual } from 'node:crypto';
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Kysely, sql } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { isLoopback, LoginGuard } from '../platform/login-guard.js';
import { Bytes, errors, StringEnum } from '../platform/http/schemas.js';
import { type MetricsJson, metricsText, queueDepth, queueOldestAge, registry } from '../platform/metrics.js';
import { type ReadinessCheck, runChecks } from './readiness.js';

// The system page's plugin lives beside its schemas (system.ts); the shell registers it from here.
export { type SystemHttpOptions, systemHttp } from './system.js';

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/**
 * Queue gauges are read from the database at scrape time: true across every worker process.
 * Scheduled messages are not queued: a held message counts from its send_at once it is due.
 */
async function refreshQueueGauges(db: Kysely<DB>, now: number): Promise<void> {
  const row = await db
    .selectFrom('email_messages')
    .select((eb) => [
      eb.fn.countAll<number>().as('depth'),
      eb.fn.min<number | null>(sql<number>`coalesce(send_at, created_at)`).as('oldest'),
    ])
    .where('status', 'in', ['queued', 'sending'])
    .executeTakeFirstOrThrow();
  queueDepth.set(Number(row.depth));
  queueOldestAge.set(row.oldest === null ? 0 : Math.max(0, now - Number(row.oldest)) / 1000);
}

export interface MetricsHttpOptions {
  db: Kysely<DB>;
  /** METRICS_TOKEN, when set. */
  token: string | undefined;
  /** Counters kept elsewhere (the delivery thread, the cluster's other processes), merged in. */
  sources: Array<() => Promise<MetricsJson>>;
  /** API_AUTH_*: wrong tokens from one client before it is refused (429) for lockoutSeconds. */
  auth: { maxFailures: number; lockoutSeconds: number; delayStepMs?: number };
  /** A trusted proxy's address (TRUST_PROXY; loopback where there is no proxy): its wrong tokens are not counted. */
  trusted?: (address: string) => boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * GET /metrics in the Prometheus text format. Without METRICS_TOKEN, for this machine only (a
 * client on loopback, as request.ip tells it behind a trusted proxy); with it, from anywhere with
 * `Authorization: Bearer <METRICS_TOKEN>` (a scrape-only secret, not an API key). Wrong tokens
 * are slowed and then refused per client, by the same rule as the API's bearer tokens.
 */
export const metricsHttp: FastifyPluginAsyncTypebox<MetricsHttpOptions> = async (
  app,
  { db, token, sources, auth, trusted = isLoopback },
) => {
  const guard = new LoginGuard({
    maxFailures: auth.maxFailures,
    lockoutMs: auth.lockoutSeconds * 1000,
    delayStepMs: auth.delayStepMs,
  });
  const authorize = async (request: FastifyRequest, reply: FastifyReply) => {
    const address = request.ip;
    if (!token) {
      if (isLoopback(address)) return;
      throw new AppError(
        'unauthorized',
        'GET /metrics from another machine needs METRICS_TOKEN set on the server and sent as `Authorization: Bearer <METRICS_TOKEN>`',
      );
    }
    const attempt = trusted(address) ? null : await guard.admit(address);
    if (attempt === 'locked') {
      reply.header('retry-after', String(Math.max(1, Math.ceil(guard.retryAfterMs(address) / 1000))));
      throw new AppError('too_many_failed_logins', 'Too many wrong metrics tokens from this address; try again later');
    }
    if (tokenMatches(request.headers.authorization, token)) return attempt?.succeed();
    const failed = attempt?.fail();
    if (failed?.locked)
      app.log.warn(
        { address, client: attempt!.client },
        'metrics: tokens refused for a client after repeated failures',
      );
    if (failed) await sleep(failed.delayMs);
    throw new AppError('unauthorized', 'GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`');
  };
  app.get(
    '/metrics',
    {
      config: { auth: 'public' },
      schema: {
        summary: 'Prometheus metrics',
        hide: true,
        response: { 200: Bytes('The Prometheus text format', ['text/plain'], 'text'), ...errors(401, 429) },
      },
    },
    async (request, reply) => {
      await authorize(request, reply);
      await refreshQueueGauges(db, Date.now());
      return reply.header('content-type', registry.contentType).send(await metricsText(sources));
    },
  );
};

const Readiness = Type.Object({
  status: StringEnum(['ok', 'unavailable'] as const),
  checks: Type.Record(
    Type.String(),
    Type.Object({
      status: StringEnum(['ok', 'fail'] as const),
      ms: Type.Integer(),
      error: Type.Optional(Type.String({ description: 'An error code only; the details are in the log' })),
    }),
  ),
});

export interface ReadinessHttpOptions {
  checks: ReadinessCheck[];
  timeoutMs?: number;
  /** True from SIGTERM on: not ready, whatever the checks say, so load balancers stop sending traffic here. */
  stopping?: () => boolean;
}

/**
 * GET /readyz: 200 when every check passes, else 503. Public, so failures name only an error
 * code; the details go to the log. /healthz stays the cheap liveness probe. A process that is
 * stopping answers 503 (check `process`, error STOPPING) at once, without running the checks.
 */
export const readinessHttp: FastifyPluginAsyncTypebox<ReadinessHttpOptions> = async (
  app,
  { checks, timeoutMs = 3000, stopping = () => false },
) => {
  app.get(
    '/readyz',
    {
      config: { auth: 'public' },
      schema: { summary: 'Readiness: database and SMTP reachable', response: { 200: Readiness, 503: Readiness } },
    },
    async (request, reply) => {
      if (stopping())
        return reply
          .status(503)
          .send({ status: 'unavailable', checks: { process: { status: 'fail', ms: 0, error: 'STOPPING' } } });
      const results = await runChecks(checks, timeoutMs, request.log);
      const ok = Object.values(results).every((r) => r.status === 'ok');
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: results });
    },
  );
};
