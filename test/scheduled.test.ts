import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import type { Worker } from '../src/delivery/worker.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { eventTypes, messageRow, sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { SmtpSink } from './support/smtp-sink.js';

/**
 * A message with a send_at ahead is `scheduled`: not leasable, not in the queue's depth or age,
 * promoted to `queued` by the worker when due (each exactly once), then sent.
 */
// The two databases side by side: most of a run is waiting for a send time to come (1.5 s ahead)
// with the CPU idle. The tests of one database run in order: they share its relay and worker.
describe.concurrent.each(backends)('scheduled messages on %s', (backend) => {
  describe.sequential('in order', () => {
    let t: TestContext;
    let sink: SmtpSink;
    let worker: Worker | null = null;

    beforeAll(async () => {
      sink = await SmtpSink.start();
      t = await createTestContext(backend, sink.env({ WORKER_POLL_MS: '20' }));
    });
    afterEach(async () => {
      await worker?.stop();
      worker = null;
    });
    afterAll(async () => {
      await t.close();
      await sink.close();
    });

    const stats = async () => (await t.inject({ method: 'GET', url: '/api/v1/email/stats?days=1' })).json();

    it('stays out of the queue and its age until due, then is promoted once and sent', async () => {
      const sendAt = Date.now() + 1500;
      const [id] = await sendOk(t, {
        ...incidentExample(),
        to: 'later@example.com',
        send_at: new Date(sendAt).toISOString(),
      });
      expect(await messageRow(t, id!)).toMatchObject({ status: 'scheduled', send_at: sendAt, attempts: 0 });
      const before = await stats();
      expect(before.today.scheduled).toBe(1);
      expect(before.queue).toMatchObject({ depth: 0, oldest_queued_at: null });

      // Two workers racing: the promotion is conditional, so one `due` event, one delivery.
      worker = startWorker(t.services, smtpTarget(t.services, null));
      const second = startWorker(t.services, smtpTarget(t.services, null));
      try {
        // Not before its time (asserted on sent_at below, not by a timed look: a loaded host may be slow).
        await waitForStatus(t, [id!], ['sent'], 15_000);
      } finally {
        await second.stop();
      }
      const row = await messageRow(t, id!);
      expect(row.sent_at!).toBeGreaterThanOrEqual(sendAt);
      const types = await eventTypes(t, id!);
      expect(types.filter((x) => x === 'due')).toHaveLength(1);
      expect(types.slice(0, 2)).toEqual(['scheduled', 'due']);
      expect(sink.accepted.filter((m) => m.envelope.to.includes('later@example.com'))).toHaveLength(1);
    });

    it('is not sent to an address suppressed while it waited: suppressed when due, with its reason', async () => {
      const to = 'unsubscribed-later@example.com';
      const [id] = await sendOk(t, { ...incidentExample(), to, send_at: new Date(Date.now() + 1500).toISOString() });
      const [other] = await sendOk(t, {
        ...incidentExample(),
        to: 'still-welcome@example.com',
        send_at: new Date(Date.now() + 1500).toISOString(),
      });
      // The person unsubscribes (or hard-bounces) before the message is due; in another spelling.
      const added = await t.inject({
        method: 'POST',
        url: '/api/v1/email/suppressions',
        payload: { email: 'Unsubscribed-Later@Example.com' },
      });
      expect(added.statusCode, added.body).toBe(201);
      worker = startWorker(t.services, smtpTarget(t.services, null));
      await waitForStatus(t, [other!], ['sent'], 15_000);
      await waitForStatus(t, [id!], ['suppressed'], 15_000);
      expect(await messageRow(t, id!)).toMatchObject({
        status: 'suppressed',
        next_attempt_at: null,
        attempts: 0,
        error_message: expect.stringMatching(/suppressed/i),
      });
      expect(await eventTypes(t, id!)).toEqual(['scheduled', 'suppressed']);
      expect(sink.accepted.filter((m) => m.envelope.to.includes(to))).toHaveLength(0);
    });

    it('counts the queue age of a promoted message from its send_at, not from when it was accepted', async () => {
      const [id] = await sendOk(t, {
        ...incidentExample(),
        to: 'aged@example.com',
        send_at: new Date(Date.now() + 60_000).toISOString(),
      });
      // Accepted two hours ago for a send_at that came a minute ago (no worker runs here).
      const now = Date.now();
      await t.services.db
        .updateTable('email_messages')
        .set({ created_at: now - 7_200_000, send_at: now - 60_000, next_attempt_at: now - 60_000, status: 'queued' })
        .where('id', '=', id!)
        .execute();
      const s = await stats();
      expect(s.queue.depth).toBe(1);
      expect(s.queue.oldest_age_seconds).toBeGreaterThanOrEqual(59);
      expect(s.queue.oldest_age_seconds).toBeLessThan(600);
      await t.inject({ method: 'DELETE', url: `/api/v1/email/messages/${id}` });
    });
  });
});
