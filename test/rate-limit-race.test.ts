import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';

const run = promisify(execFile);
const child = fileURLToPath(new URL('./helpers/rate-race-child.ts', import.meta.url));

// Several API processes share one PostgreSQL: the limit must hold across them, not per process.
describe.skipIf(!process.env.TEST_DATABASE_URL)('rate limit across processes on postgres', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext('postgres', { EMAIL_RATE_LIMIT_MARKETING: '3/day' });
  });
  afterAll(() => t.close());

  it('accepts exactly N in total when two processes race on one address', async () => {
    const schema = (
      await t.services.db.selectNoFrom((eb) => eb.fn<string>('current_schema', []).as('s')).executeTakeFirstOrThrow()
    ).s;
    const args = [process.env.TEST_DATABASE_URL!, schema, 'race@example.com', '10'];
    const opts = { env: { ...process.env, RACE_DATA_DIR: t.dir }, timeout: 60_000 };
    const outputs = await Promise.all(
      [0, 1].map(() => run(process.execPath, ['--import', 'tsx', child, ...args], opts)),
    );
    const statuses = outputs.flatMap((o) => JSON.parse(o.stdout) as string[]);
    expect(statuses).toHaveLength(20);
    expect(statuses.filter((s) => s === 'queued')).toHaveLength(3);
    expect(statuses.filter((s) => s === 'rate_limited')).toHaveLength(17);
    const rows = await t.services.db
      .selectFrom('email_messages')
      .select('status')
      .where('recipient_email', '=', 'race@example.com')
      .where('status', '=', 'queued')
      .execute();
    expect(rows).toHaveLength(3);
  }, 90_000);
});
