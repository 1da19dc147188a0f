import type { FastifyBaseLogger } from 'fastify';
import { type Kysely, sql } from 'kysely';
import type { DB } from '../platform/db/schema.js';

/** One dependency /readyz must reach before a load balancer sends traffic here. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<unknown>;
}

export const databaseCheck = (db: Kysely<DB>): ReadinessCheck => ({
  name: 'database',
  check: () => sql`select 1`.execute(db),
});

/** The delivery transport's own verify (Nodemailer's `transporter.verify()`): connect, EHLO, auth. */
export const smtpCheck = (verify: () => Promise<unknown>): ReadinessCheck => ({ name: 'smtp', check: verify });

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'TIMEOUT' })), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export interface CheckResult {
  status: 'ok' | 'fail';
  ms: number;
  /** An error code only (public answer); the details go to the log. */
  error?: string;
}

/** Runs every check at once, each within `timeoutMs`; a failure is logged with its details. */
export async function runChecks(
  checks: ReadinessCheck[],
  timeoutMs: number,
  log: FastifyBaseLogger,
): Promise<Record<string, CheckResult>> {
  const results = await Promise.all(
    checks.map(async (c): Promise<[string, CheckResult]> => {
      const started = performance.now();
      try {
        await withTimeout(
          Promise.resolve().then(() => c.check()),
          timeoutMs,
        );
        return [c.name, { status: 'ok', ms: Math.round(performance.now() - started) }];
      } catch (err) {
        log.warn({ err, check: c.name }, 'readiness check failed');
        const code = (err as { code?: unknown }).code;
        return [
          c.name,
          {
            status: 'fail',
            ms: Math.round(performance.now() - started),
            error: typeof code === 'string' ? code : 'error',
          },
        ];
      }
    }),
  );
  return Object.fromEntries(results);
}
