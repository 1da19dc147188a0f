import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, serve } from '../src/app/serve.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { messageRow, sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { dsn, sendReport } from './helpers/reports.js';
import { SmtpSink } from './support/smtp-sink.js';
import { waitUntil } from './support/wait.js';

/**
 * `postier serve` as deployed: the listener in the serving process, the delivery worker and the
 * feedback processor on the delivery thread. A message goes out with its VERP return path, a
 * bounce comes back to the listener, and the thread classifies and applies it.
 */
describe('feedback through postier serve (listener, delivery thread)', () => {
  let t: TestContext;
  let sink: SmtpSink;
  let running: Running;
  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext(
      'sqlite',
      sink.env({
        PORT: '0',
        WORKER_POLL_MS: '50',
        BOUNCE_DOMAIN: 'bounces.rgz.bj',
        INBOUND_SMTP_PORT: '0',
        INBOUND_SMTP_HOST: '127.0.0.1',
      }),
    );
    running = await serve(t.services, { api: true, worker: true, thread: true });
  }, 60_000);
  afterAll(async () => {
    await running?.stop();
    await t?.close();
    await sink?.close();
  });

  it('a bounce to the return path of a message the thread sent is classified and applied by the thread', async () => {
    expect(running.feedback).not.toBeNull();
    const to = 'served@example.com';
    const [id] = await sendOk(t, { ...incidentExample(), to });
    await waitForStatus(t, [id!], ['sent'], 30_000);
    const returnPath = sink.accepted.find((m) => m.envelope.to.includes(to))!.envelope.from;
    expect(returnPath).toMatch(/^bounces\+[a-z2-7]{42}@bounces\.rgz\.bj$/);
    const res = await sendReport(
      running.feedback!.port,
      { from: '', to: [returnPath] },
      dsn({ to: returnPath, recipient: to, messageId: '<x@y>' }),
    );
    expect(res.response).toMatch(/^250 /);
    await waitForStatus(t, [id!], ['bounced'], 30_000);
    expect(await messageRow(t, id!)).toMatchObject({ bounce_category: 'unknown_user' });
    await waitUntil(
      async () =>
        (await t.services.db.selectFrom('feedback_reports').select('state').executeTakeFirst())?.state === 'classified',
      10_000,
      'the report classified',
    );
  }, 60_000);
});
