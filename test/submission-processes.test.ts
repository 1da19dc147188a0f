import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, backends, createTestContext, type TestContext } from './helpers/context.js';
import { childEnv } from './helpers/child-env.js';
import { until } from './helpers/delivery.js';
import { SmtpTalk } from './helpers/smtp-talk.js';
import { mime } from './helpers/submission.js';
import { freePort } from './support/ports.js';
import { spawnPostier, startServe } from './support/processes.js';

/** The listener as deployed: inside `postier serve`, and alone in `postier submission`, on the same database. */
describe.each(backends)('the submission listener in Postier processes on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(async () => {
    await t?.close();
  });

  const sendThrough = async (port: number, messageId: string) => {
    const talk = await SmtpTalk.connect(port);
    await talk.command('EHLO x');
    expect(await talk.login(ADMIN_TOKEN)).toMatch(/^235/);
    const reply = await talk.send('billing@rgz.bj', ['client@example.org'], mime({ 'Message-ID': messageId }));
    talk.close();
    return reply;
  };
  // Stored from the spool just after the 250, by the listener's process.
  const stored = async (messageId: string) => {
    const rows = () =>
      t.services.db
        .selectFrom('email_messages')
        .select(['status', 'source'])
        .where('smtp_message_id', '=', messageId)
        .execute();
    await until(`${messageId} stored`, async () => (await rows()).length > 0, 10_000);
    return rows();
  };

  it('postier serve listens on SUBMISSION_PORT, stores what it accepts, and delivers it at once', async () => {
    const port = await freePort();
    const serve = await startServe({
      // A worker that polls once a minute: only the ingester's ring (from its thread on PostgreSQL) can start this delivery sooner.
      env: childEnv(t, { POSTIER_ADMIN_TOKEN: ADMIN_TOKEN, SUBMISSION_PORT: String(port), WORKER_POLL_MS: '60000' }),
    });
    try {
      await serve.waitForOutput(/SMTP submission listening/, 90_000);
      expect(await sendThrough(port, '<in-serve@erp.rgz.bj>')).toMatch(/^250 2\.0\.0/);
      expect(await stored('<in-serve@erp.rgz.bj>')).toEqual([{ status: expect.any(String), source: 'smtp' }]);
      // No SMTP_HOST: the capture server takes it.
      await until(
        'the submitted message captured',
        async () => (await stored('<in-serve@erp.rgz.bj>'))[0]!.status === 'captured',
        20_000,
      );
      // The thread's counters are in the process's /metrics.
      const metrics = await (
        await fetch(`${serve.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
      ).text();
      expect(metrics).toMatch(/^postier_submission_archived_total\{result="stored"\} 1$/m);
    } finally {
      await serve.stop();
    }
  }, 120_000);

  it('postier submission runs the listener alone', async () => {
    const port = await freePort();
    const p = spawnPostier('submission', {
      env: childEnv(t, { POSTIER_ADMIN_TOKEN: ADMIN_TOKEN, SUBMISSION_PORT: String(port) }),
    });
    try {
      expect(await p.waitForOutput(/SMTP submission listening/, 90_000)).not.toBeNull();
      expect(p.output()).not.toMatch(/Postier API listening|delivery worker started/);
      expect(await sendThrough(port, '<alone@erp.rgz.bj>')).toMatch(/^250 2\.0\.0/);
      expect(await stored('<alone@erp.rgz.bj>')).toEqual([{ status: 'queued', source: 'smtp' }]);
    } finally {
      expect(await p.stop()).toBe(0);
    }
  }, 120_000);
});
