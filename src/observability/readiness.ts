import type { FastifyInstance } from 'fastify';
import { type Kysely, sql } from 'kysely';
import type { DB } from '../platform/db/schema.js';

/** One dependency /readyz must reach before a load balancer sends traffic here. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<unknown>;
}

export const databaseCheck = (db: Kysely<DB>): ReadinessCheck => ({ name: 'database', check: () => sql`select 1`.execute(db) });

/** The delivery transport's own verify (Nodemailer's `transporter.verify()`): connect, EHLO, auth. */
export const smtpCheck = (verify: () => Promise<unknown>): ReadinessCheck => ({ name: 'smtp', check: verify });

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'TIMEOUT' })), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * GET /readyz: 200 when every check passes, else 503. Public, so failures name only an error
 * code; the details go to the log. /healthz stays the cheap liveness probe.
 */
export function readinessRoutes(app: FastifyInstance, checks: ReadinessCheck[], timeoutMs = 3000): void {
  app.get('/readyz', { config: { auth: 'public' }, schema: { summary: 'Readiness: database and SMTP reachable' } }, async (request, reply) => {
    const results = await Promise.all(
      checks.map(async (c) => {
        const started = performance.now();
        try {
          await withTimeout(Promise.resolve().then(() => c.check()), timeoutMs);
          return [c.name, { status: 'ok', ms: Math.round(performance.now() - started) }] as const;
        } catch (err) {
          request.log.warn({ err, check: c.name }, 'readiness check failed');
          const code = (err as { code?: unknown }).code;
          return [c.name, { status: 'fail', ms: Math.round(performance.now() - started), error: typeof code === 'string' ? code : 'error' }] as const;
        }
      }),
    );
    const ok = results.every(([, r]) => r.status === 'ok');
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: Object.fromEntries(results) });
  });
}
