import { describe, expect, it } from 'vitest';
import { registry } from '../src/platform/metrics.js';
import { addSuppression } from '../src/suppressions/index.js';
import { backends, type TestContext } from './helpers/context.js';
import { deliveryHarness } from './helpers/delivery-harness.js';
import { eventData, eventTypes, messageRow, sendOk, until, waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import type { SmtpSink } from './support/smtp-sink.js';

/**
 * Delivery is the last gate for the `to` address too: an address suppressed after its message
 * was accepted (a hard bounce elsewhere, a complaint, an admin's entry) while the message waited
 * in the queue or for a retry is not sent to. The message ends as accept leaves a suppressed
 * recipient's: status `suppressed`, the reason in error_message, a `suppressed` event, no webhook.
 */

const raw = (over: Record<string, unknown> = {}) => ({
  to: 'abonne@rgz.bj',
  subject: 'Votre facture de mars',
  html: '<p>Bonjour,</p><p>Votre facture est disponible.</p>',
  ...over,
});

const FINAL = ['sent', 'partially_sent', 'failed', 'suppressed', 'captured'];

describe.each(backends)('a to suppressed after accept, at delivery on %s', (backend) => {
  let t: TestContext;
  let sink: SmtpSink;
  const { run, stop, suppress, rcpts } = deliveryHarness(
    backend,
    {
      SMTP_TIMEOUT_SECONDS: '2',
      WORKER_POLL_MS: '20',
      WORKER_RETRY_BASE_SECONDS: '0.05',
      WORKER_RETRY_MAX_SECONDS: '0.2',
      EMAIL_SUPPRESSION_BYPASS_CATEGORIES: 'incident',
    },
    async (made) => {
      ({ t, sink } = made);
      // Hears every event type there is: a suppression must announce what accept's does (nothing).
      const hook = await t.inject({
        method: 'POST',
        url: '/api/v1/webhooks',
        payload: {
          url: 'http://127.0.0.1:9/hooks',
          event_types: ['sent', 'partially_sent', 'captured', 'delivered', 'bounced', 'complaint', 'failed'],
        },
      });
      expect(hook.statusCode).toBe(201);
    },
  );
  const withheldCount = async (kind: string) => {
    const metric = await registry.getSingleMetric('postier_delivery_recipients_withheld_total')?.get();
    return metric?.values.find((v) => v.labels.kind === kind)?.value ?? 0;
  };
  const detail = async (id: string) =>
    (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json() as {
      status: string;
      error_message: string | null;
      recipients: Array<{ address: string; kind: string; status: string; response: string | null }>;
    };
  const webhookTypes = async (id: string) => {
    await t.services.webhooks.enqueuer.run();
    const rows = await t.services.db
      .selectFrom('webhook_deliveries')
      .select('event_type')
      .where('message_id', '=', id)
      .orderBy('created_at')
      .execute();
    return rows.map((r) => r.event_type);
  };
  /** What accept makes of the same send now: the status, reason and last event it gives a suppressed recipient. */
  const acceptNow = async (payload: object) => {
    await stop();
    const [id] = await sendOk(t, payload);
    const row = await messageRow(t, id!);
    const events = await eventTypes(t, id!);
    // Accepted for delivery: not left for the next test's worker.
    if (row.status === 'queued')
      expect((await t.inject({ method: 'DELETE', url: `/api/v1/email/messages/${id}` })).statusCode).toBe(200);
    return { id: id!, status: row.status, reason: row.error_message, events };
  };
  const makeDue = (id: string) =>
    t.services.db.updateTable('email_messages').set({ next_attempt_at: Date.now() }).where('id', '=', id).execute();

  it('an address suppressed while its message waits for a retry after a 4xx is not sent to on the retry: suppressed, as accept would', async () => {
    const to = 'retry-bounced@rgz.bj';
    const stopRule = sink.on('rcpt', { reply: '451 4.2.1 Mailbox busy, try later' }, { match: to });
    const [id] = await sendOk(t, raw({ to }));
    // A long backoff: the retry happens when the test makes the message due.
    run({ backoff: { baseMs: 3_600_000, maxMs: 3_600_000 } });
    await until('the first attempt deferred', async () => (await eventTypes(t, id!)).includes('retry_scheduled'));
    const first = await messageRow(t, id!);
    expect(first).toMatchObject({ status: 'queued', attempts: 1 });
    expect(rcpts()).toEqual([to]);

    // It hard-bounced elsewhere meanwhile (a report about another message).
    await addSuppression(t.services.db, {
      email: to,
      scope: 'all',
      reason: 'bounce',
      source: 'report',
      at: Date.now(),
    });
    const before = await withheldCount('to');
    // The relay would take it now: only the suppression can keep it from going out.
    stopRule();
    sink.commands.length = 0;
    await makeDue(id!);
    await waitForStatus(t, [id!], FINAL);

    expect(rcpts()).toEqual([]);
    expect(sink.accepted).toHaveLength(0);
    const row = await messageRow(t, id!);
    expect(row).toMatchObject({
      status: 'suppressed',
      error_message: 'Recipient is suppressed (bounce)',
      next_attempt_at: null,
      sealed_content: null,
      sent_at: null,
      // The one attempt that happened; the lease that found it suppressed is not one.
      attempts: 1,
      // The relay's reply to that attempt stays on record.
      smtp_response: first.smtp_response,
    });
    expect(await eventTypes(t, id!)).toEqual([
      'queued',
      'sending',
      'attempt',
      'retry_scheduled',
      'sending',
      'suppressed',
    ]);
    expect(await eventData(t, id!, 'suppressed')).toEqual([
      { reason: 'Recipient is suppressed (bounce)', when: 'delivery' },
    ]);
    expect(await withheldCount('to')).toBe(before + 1);

    // Accept gives the same send now the same status, reason and event; neither is announced by webhook.
    const accepted = await acceptNow(raw({ to }));
    expect(accepted).toMatchObject({ status: row.status, reason: row.error_message, events: ['suppressed'] });
    expect(await webhookTypes(id!)).toEqual([]);
    expect(await webhookTypes(accepted.id)).toEqual([]);

    const view = await detail(id!);
    expect(view.recipients).toEqual([
      expect.objectContaining({ address: to, kind: 'to', status: 'suppressed', response: row.error_message }),
    ]);
  });

  it('an address suppressed while its message is queued (worker stopped) is not sent to, nor are its cc and bcc', async () => {
    const to = 'queued-gone@rgz.bj';
    const payload = raw({ to, cc: 'copie@rgz.bj', bcc: 'archive@rgz.bj' });
    const [id] = await sendOk(t, payload);
    expect((await messageRow(t, id!)).status).toBe('queued');
    await suppress(to);
    const before = await withheldCount('to');
    run();
    await waitForStatus(t, [id!], FINAL);

    expect(rcpts()).toEqual([]);
    expect(sink.accepted).toHaveLength(0);
    const row = await messageRow(t, id!);
    expect(row).toMatchObject({
      status: 'suppressed',
      error_message: 'Recipient is suppressed (manual)',
      attempts: 0,
      sealed_content: null,
      smtp_response: null,
    });
    expect(await eventTypes(t, id!)).toEqual(['queued', 'sending', 'suppressed']);
    expect(await withheldCount('to')).toBe(before + 1);

    const accepted = await acceptNow(payload);
    expect(accepted).toMatchObject({ status: row.status, reason: row.error_message, events: ['suppressed'] });
    expect(await webhookTypes(id!)).toEqual(await webhookTypes(accepted.id));

    // The to suppressed with why, the copies never sent: as the API shows the message accept refused.
    const expected = [
      { address: to, kind: 'to', status: 'suppressed', response: 'Recipient is suppressed (manual)' },
      { address: 'copie@rgz.bj', kind: 'cc', status: 'not_sent', response: null },
      { address: 'archive@rgz.bj', kind: 'bcc', status: 'not_sent', response: null },
    ];
    const shown = (v: Awaited<ReturnType<typeof detail>>) =>
      v.recipients.map(({ address, kind, status, response }) => ({ address, kind, status, response }));
    expect(shown(await detail(id!))).toEqual(expected);
    expect(shown(await detail(accepted.id))).toEqual(expected);
  });

  it('judges the to as accept does: a template bypass category still delivers, a class scope and a caller-given category do not', async () => {
    const to = 'ops-gone@rgz.bj';
    const unsub = 'ops-unsub@rgz.bj';
    // Accepted while the addresses were fine.
    const [bypass] = await sendOk(t, { ...incidentExample(), to });
    const [classScoped] = await sendOk(t, { ...incidentExample(), to: unsub });
    const [callers] = await sendOk(t, raw({ to, category: 'incident' }));
    await suppress(to);
    await suppress(unsub, 'transactional');
    run();
    await waitForStatus(t, [bypass!, classScoped!, callers!], FINAL);

    // The incident template reaches an address suppressed for all mail, as accept lets it.
    expect((await messageRow(t, bypass!)).status).toBe('sent');
    expect(sink.accepted.map((m) => m.envelope.to)).toEqual([[to]]);
    // Unsubscribed from its class: no bypass. A caller's own category is not the template's.
    expect(await messageRow(t, classScoped!)).toMatchObject({
      status: 'suppressed',
      error_message: 'Recipient is suppressed (manual from transactional mail)',
    });
    expect(await messageRow(t, callers!)).toMatchObject({
      status: 'suppressed',
      error_message: 'Recipient is suppressed (manual)',
    });
    // The same verdicts accept gives these sends now.
    expect((await acceptNow({ ...incidentExample(), to })).status).toBe('queued');
    expect((await acceptNow({ ...incidentExample(), to: unsub })).status).toBe('suppressed');
    expect((await acceptNow(raw({ to, category: 'incident' }))).status).toBe('suppressed');
  });

  it('a to deferred while a cc accepted, then suppressed, is withheld like a cc: the message went out, and ends sent', async () => {
    const to = 'late-to@rgz.bj';
    const stopRule = sink.on('rcpt', { reply: '451 4.2.1 Mailbox busy, try later' }, { match: to });
    const [id] = await sendOk(t, raw({ to, cc: 'chef@rgz.bj' }));
    run({ backoff: { baseMs: 3_600_000, maxMs: 3_600_000 } });
    await until('the to deferred', async () => (await eventTypes(t, id!)).includes('retry_scheduled'));
    expect(sink.accepted.map((m) => m.envelope.to)).toEqual([['chef@rgz.bj']]);

    await suppress(to);
    const before = await withheldCount('to');
    stopRule();
    sink.commands.length = 0;
    await makeDue(id!);
    await waitForStatus(t, [id!], FINAL);

    expect(rcpts()).toEqual([]);
    const row = await messageRow(t, id!);
    expect(row.status).toBe('sent');
    const status = JSON.parse(row.recipient_status!) as Record<string, { kind: string; status: string }>;
    expect(status[to]).toMatchObject({ kind: 'to', status: 'suppressed' });
    expect(status['chef@rgz.bj']).toMatchObject({ kind: 'cc', status: 'accepted' });
    const attempts = await eventData<{ withheld?: unknown }>(t, id!, 'attempt');
    expect(attempts.at(-1)!.withheld).toEqual([
      { address: to, kind: 'to', reason: 'Recipient is suppressed (manual)' },
    ]);
    expect(await withheldCount('to')).toBe(before + 1);
    expect((await detail(id!)).recipients.map((r) => [r.address, r.status])).toEqual([
      [to, 'suppressed'],
      ['chef@rgz.bj', 'accepted'],
    ]);
  });

  it('the message API shows a withheld cc as suppressed, with why', async () => {
    await suppress('cc-gone@rgz.bj');
    const [id] = await sendOk(t, raw({ to: 'cc-owner@rgz.bj', cc: 'cc-gone@rgz.bj' }));
    run();
    await waitForStatus(t, [id!], FINAL);
    expect((await messageRow(t, id!)).status).toBe('sent');
    expect((await detail(id!)).recipients).toEqual([
      expect.objectContaining({ address: 'cc-owner@rgz.bj', kind: 'to', status: 'accepted' }),
      expect.objectContaining({
        address: 'cc-gone@rgz.bj',
        kind: 'cc',
        status: 'suppressed',
        response: 'Recipient is suppressed (manual)',
      }),
    ]);
  });

  it('a scheduled send is judged when due as before (one suppressed event, when: due), and one still fine is sent', async () => {
    const sendAt = new Date(Date.now() + 86_400_000).toISOString();
    const [stopped] = await sendOk(t, raw({ to: 'sched-gone@rgz.bj', send_at: sendAt }));
    const [fine] = await sendOk(t, raw({ to: 'sched-ok@rgz.bj', send_at: sendAt }));
    await suppress('sched-gone@rgz.bj');
    await makeDue(stopped!);
    await makeDue(fine!);
    run();
    await waitForStatus(t, [stopped!, fine!], FINAL);
    expect(await eventTypes(t, stopped!)).toEqual(['scheduled', 'suppressed']);
    expect(await eventData(t, stopped!, 'suppressed')).toEqual([
      { reason: 'Recipient is suppressed (manual)', when: 'due' },
    ]);
    expect((await messageRow(t, fine!)).status).toBe('sent');
    expect(await eventTypes(t, fine!)).toEqual(['scheduled', 'due', 'sending', 'attempt', 'sent']);
  });
});
