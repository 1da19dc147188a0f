import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type pino from 'pino';
import { releaseLock, tryLock } from '../platform/db/locks.js';
import type { DB } from '../platform/db/schema.js';
import type { DomainService } from './service.js';

const JOB = 'domain_dns_check';

/**
 * Checks every sending domain's DNS shortly after start and then every `everyMs`, one process at
 * a time (a job_locks lease), so a record removed or a key rotated shows within that period.
 */
export function startDomainChecks(
  db: Kysely<DB>,
  domains: DomainService,
  log: pino.Logger,
  everyMs: number,
  firstAfterMs = 30_000,
): { stop(): void } {
  const owner = `domains:${randomUUID()}`;
  let running = false;
  const run = () => {
    if (running) return;
    running = true;
    void (async () => {
      const now = Date.now();
      // A run that does not end (resolvers hanging) frees the lease after 10 minutes.
      if (!(await tryLock(db, JOB, owner, 600_000, now))) return;
      let result: unknown = null;
      try {
        result = await domains.checkAll();
      } finally {
        await releaseLock(db, JOB, owner, Date.now(), result);
      }
    })()
      .catch((err: unknown) => log.error({ err }, 'sending domain DNS checks failed'))
      .finally(() => {
        running = false;
      });
  };
  const first = setTimeout(run, firstAfterMs);
  const timer = setInterval(run, everyMs);
  first.unref();
  timer.unref();
  return {
    stop() {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
