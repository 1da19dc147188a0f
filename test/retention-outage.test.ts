import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRetentionScheduler } from '../src/retention/scheduler.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';

// A CI run once had its hourly tick fall inside a PostgreSQL restart: taking the job lock threw
// outside the job's try, the cron callback's promise rejected unhandled, and every API and worker
// process died. The database being away at the tick must cost that run, nothing more.
describe.each(backends)('retention scheduler with the database away on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  it('skips the run, logs why, and never rejects: a cron tick included', async () => {
    const lines: { msg: string; job?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    // The lock table unreachable, as every query is during a restart.
    await sql`ALTER TABLE job_locks RENAME TO job_locks_away`.execute(t.services.db);
    const scheduler = startRetentionScheduler({ ...t.services, log }, { owner: 'here', pattern: '* * * * * *' });
    try {
      await expect(scheduler.runOnce()).resolves.toEqual({});
      const skipped = lines.filter((l) => l.msg === 'retention job skipped: could not take its lock');
      expect(skipped.map((l) => l.job)).toContain('retention.purge');
      // Let the every-second cron tick run against the missing table too.
      const before = skipped.length;
      await new Promise((r) => setTimeout(r, 1500));
      expect(lines.filter((l) => l.msg === 'retention job skipped: could not take its lock').length).toBeGreaterThan(
        before,
      );
      expect(unhandled).toEqual([]);
    } finally {
      await scheduler.stop();
      process.off('unhandledRejection', onUnhandled);
      await sql`ALTER TABLE job_locks_away RENAME TO job_locks`.execute(t.services.db);
    }
    // Back: the next run takes its locks and runs every job.
    const again = startRetentionScheduler({ ...t.services, log }, { owner: 'here' });
    try {
      expect(Object.keys(await again.runOnce())).toContain('retention.purge');
    } finally {
      await again.stop();
    }
  });
});
