import type { FastifyBaseLogger } from 'fastify';
import { type Kysely, sql } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { withTimeout } from '../platform/with-timeout.js';

/** One dependency /readyz must reach before a load balancer sends traffic here. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<unknown>;
  /** Its verdict, when the check decides itself when to run (cached); else runChecks runs `check` every time. */
  verdict?(timeoutMs: number, log: FastifyBaseLogger): Promise<CheckResult>;
}

export const databaseCheck = (db: Kysely<DB>): ReadinessCheck => ({
  name: 'database',
  check: () => sql`select 1`.execute(db),
});

/** The delivery transport's own verify (Nodemailer's `transporter.verify()`): connect, EHLO, auth. */
export const smtpCheck = (verify: () => Promise<unknown>): ReadinessCheck => ({ name: 'smtp', check: verify });

export interface CheckResult {
  status: 'ok' | 'fail';
  ms: number;
  /** An error code only (public answer); the details go to the log. */
  error?: string;
}

/** One run of a check: timed, within `timeoutMs`; a failure is logged with its details. */
async function runOnce(c: ReadinessCheck, timeoutMs: number, log: FastifyBaseLogger): Promise<CheckResult> {
  const started = performance.now();
  try {
    await withTimeout(
      Promise.resolve().then(() => c.check()),
      timeoutMs,
    );
    return { status: 'ok', ms: Math.round(performance.now() - started) };
  } catch (err) {
    log.warn({ err, check: c.name }, 'readiness check failed');
    const code = (err as { code?: unknown }).code;
    return {
      status: 'fail',
      ms: Math.round(performance.now() - started),
      error: typeof code === 'string' ? code : 'error',
    };
  }
}

/** How long cached() reuses a verdict: a success, a failure. */
export interface CacheTimes {
  okMs: number;
  failMs: number;
}

/** The smtp check's: /readyz is public, and each run logs in to the relay (SMTP_HOST, its fallbacks). */
export const SMTP_CHECK_CACHE: CacheTimes = { okMs: 15_000, failMs: 5_000 };

/**
 * A check whose verdict is reused for a while (`okMs` after a success, `failMs` after a failure),
 * and shared while it runs: requests that arrive meanwhile wait for the same run (single flight).
 * A failure is logged once, by the run. An underlying check still going after its timeout is not
 * started again before it ends: at most one is ever under way.
 */
export function cached(c: ReadinessCheck, { okMs, failMs }: CacheTimes): ReadinessCheck {
  let running: Promise<unknown> | null = null;
  let last: { verdict: Promise<CheckResult>; until: number } | null = null;
  const shared = () => {
    running ??= Promise.resolve()
      .then(() => c.check())
      .finally(() => {
        running = null;
      });
    return running;
  };
  return {
    name: c.name,
    check: shared,
    verdict(timeoutMs, log) {
      if (last && performance.now() < last.until) return last.verdict;
      const entry = {
        verdict: runOnce({ name: c.name, check: shared }, timeoutMs, log),
        until: Number.POSITIVE_INFINITY,
      };
      last = entry;
      void entry.verdict.then((r) => {
        entry.until = performance.now() + (r.status === 'ok' ? okMs : failMs);
      });
      return entry.verdict;
    },
  };
}

/** Runs every check at once, each within `timeoutMs` (or reuses its verdict: cached). */
export async function runChecks(
  checks: ReadinessCheck[],
  timeoutMs: number,
  log: FastifyBaseLogger,
): Promise<Record<string, CheckResult>> {
  const results = await Promise.all(
    checks.map(
      async (c): Promise<[string, CheckResult]> => [
        c.name,
        await (c.verdict ? c.verdict(timeoutMs, log) : runOnce(c, timeoutMs, log)),
      ],
    ),
  );
  return Object.fromEntries(results);
}
