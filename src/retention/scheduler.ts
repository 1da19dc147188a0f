import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Cron } from 'croner';
import type pino from 'pino';
import type { RetentionDeps } from './deps.js';
import { anonymizeOld } from './anonymize.js';
import { moveInlineBodies } from '../content/index.js';
import { yieldToOthers } from './batches.js';
import { housekeeping } from './housekeeping.js';
import { releaseLock, renewLock, tryLock } from '../platform/db/locks.js';
import { purgeExpired } from './purge.js';

type Job = (s: RetentionDeps, now: number, onBatch: () => Promise<void>) => Promise<unknown>;

/** Anonymize before purging: the order does not matter for correctness, only for the log. */
export const RETENTION_JOBS: Record<string, Job> = {
  'retention.anonymize': (s, now, onBatch) => anonymizeOld(s, now, onBatch),
  'retention.purge': (s, now, onBatch) => purgeExpired(s, now, onBatch),
  'retention.housekeeping': (s, now, onBatch) => housekeeping(s, now, onBatch),
  // Bodies of messages written before migration 0019, into email_bodies (a no-op once done).
  'content.move-bodies': (s, _now, onBatch) => moveInlineBodies(s.db, s.dialect, { onBatch, yieldToOthers }),
};

const LOCK_TTL_MS = 10 * 60_000;

export interface RetentionScheduler {
  /** Runs every job once now (each only if its lock is free); resolves with what ran. */
  runOnce(now?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * Runs the retention jobs on a cron pattern (hourly by default) in this process. Safe to start
 * in every API and worker process: a lock row makes one of them run each job at a time.
 */
export function startRetentionScheduler(
  s: RetentionDeps & { log: pino.Logger },
  opts: { pattern?: string; owner?: string } = {},
): RetentionScheduler {
  const owner = opts.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  let running: Promise<Record<string, unknown>> | null = null;

  async function runJobs(now: number): Promise<Record<string, unknown>> {
    const ran: Record<string, unknown> = {};
    for (const [name, job] of Object.entries(RETENTION_JOBS)) {
      // The database may be down at the tick (a restart, a failover): this run skips the job and
      // the next tick tries again. Never a rejection: nothing awaits a cron tick's run.
      const locked = await tryLock(s.db, name, owner, LOCK_TTL_MS, Date.now()).catch((err: unknown) => {
        s.log.error({ err, job: name }, 'retention job skipped: could not take its lock');
        return false;
      });
      if (!locked) continue;
      try {
        const onBatch = async () => {
          if (!(await renewLock(s.db, name, owner, LOCK_TTL_MS, Date.now()))) throw new Error(`lost the ${name} lock`);
        };
        ran[name] = await job(s, now, onBatch);
        s.log.info({ job: name, result: ran[name] }, 'retention job done');
        await releaseLock(s.db, name, owner, Date.now(), ran[name]);
      } catch (err) {
        s.log.error({ err, job: name }, 'retention job failed');
        await releaseLock(s.db, name, owner, Date.now(), { error: (err as Error).message }).catch(() => {});
      }
    }
    return ran;
  }

  const runOnce = (now = Date.now()) => {
    // One run at a time in this process too: an hourly tick must not overlap a slow purge.
    running ??= runJobs(now).finally(() => {
      running = null;
    });
    return running;
  };

  const cron = new Cron(opts.pattern ?? '17 * * * *', { protect: true }, () => {
    runOnce().catch((err: unknown) => s.log.error({ err }, 'retention run failed'));
  });
  return {
    runOnce,
    async stop() {
      cron.stop();
      await running?.catch(() => {});
    },
  };
}
