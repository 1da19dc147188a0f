import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import type { Worker, WorkerOptions } from '../src/delivery/worker.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { attemptEvents, eventTypes, messageRow, sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample, invoiceExample, pdfBytes } from './helpers/fixtures.js';
import { SmtpSink } from './support/smtp-sink.js';

describe.each(backends)('delivery on %s', (backend) => {
  let t: TestContext;
  let sink: SmtpSink;
  let worker: Worker | null = null;

  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext(
      backend,
      sink.env({
        SMTP_TIMEOUT_SECONDS: '1',
        SMTP_DATA_TIMEOUT_SECONDS: '1',
        WORKER_POLL_MS: '20',
        WORKER_RETRY_BASE_SECONDS: '0.05',
        WORKER_RETRY_MAX_SECONDS: '0.2',
      }),
    );
  });
  afterEach(async () => {
    await worker?.stop();
    worker = null;
    sink.reset();
  });
  afterAll(async () => {
    await t.close();
    await sink.close();
  });

  const run = (overrides: Partial<WorkerOptions> = {}) => {
    worker = startWorker(t.services, smtpTarget(t.services, null), overrides);
    return worker;
  };

  it('sends multipart/alternative MIME with the attachment bytes exact, UTF-8 headers, From, Reply-To and the fixed Message-ID', async () => {
    run();
    const [id] = await sendOk(t, invoiceExample());
    await waitForStatus(t, [id!], ['sent']);
    const row = await messageRow(t, id!);
    expect(sink.accepted).toHaveLength(1);
    const got = sink.accepted[0]!;
    expect(got.envelope).toEqual({ from: 'noreply@rgz.bj', to: ['reseller@techconnect.bj'] });
    const mail = await sink.parse(got);
    expect(mail.subject).toBe('Facture RGZ — février 2026');
    // Non-ASCII headers travel as RFC 2047 encoded words, never raw 8-bit.
    expect(got.raw.toString('latin1')).toMatch(/^Subject: =\?UTF-8\?[QB]\?/m);
    expect(mail.messageId).toBe(row.smtp_message_id);
    expect(mail.from?.value).toEqual([{ name: 'RGZ Notifications', address: 'noreply@rgz.bj' }]);
    expect(mail.replyTo?.value).toEqual([{ name: '', address: 'support@rgz.bj' }]);
    expect(mail.text).toContain('Montant: 450000 FCFA');
    expect(mail.html).toContain('href="https://admin-rgz.duckdns.org/invoices/latest"');
    expect(mail.headers.get('content-type')).toMatchObject({ value: 'multipart/mixed' });
    expect(got.raw.toString()).toMatch(/Content-Type: multipart\/alternative/);
    expect(mail.attachments).toHaveLength(1);
    expect(mail.attachments[0]).toMatchObject({ filename: 'invoice_2026-02.pdf', contentType: 'application/pdf' });
    expect(Buffer.compare(mail.attachments[0]!.content, pdfBytes())).toBe(0);
    expect(row).toMatchObject({
      status: 'sent',
      attempts: 1,
      smtp_response: got.reply,
      lease_owner: null,
      error_message: null,
    });
    expect(row.sent_at).toBeGreaterThan(0);
    expect(await eventTypes(t, id!)).toEqual(['queued', 'sending', 'attempt', 'sent']);
    const [attempt] = await attemptEvents(t, id!);
    expect(attempt).toMatchObject({ attempt: 1, code: 250, response: got.reply });
    expect(attempt!.duration_ms).toBeGreaterThanOrEqual(0);
  });

  it('delivers an empty csv attachment as an attachment of zero bytes beside a non-empty one', async () => {
    run();
    const [id] = await sendOk(t, {
      ...invoiceExample(),
      attachments: [
        ...invoiceExample().attachments,
        { filename: 'incidents.csv', content_type: 'text/csv', data_base64: '' },
      ],
    });
    await waitForStatus(t, [id!], ['sent']);
    const mail = await sink.parse(sink.accepted[0]!);
    expect(mail.attachments.map((a) => [a.filename, a.contentType, a.content.length])).toEqual([
      ['invoice_2026-02.pdf', 'application/pdf', pdfBytes().length],
      ['incidents.csv', 'text/csv', 0],
    ]);
  });

  it('puts cc in the headers, bcc only in the envelope, the request reply_to, and the message headers JSON', async () => {
    const [id] = await sendOk(t, {
      ...incidentExample(),
      to: 'noc@rgz.bj',
      cc: 'chef@rgz.bj',
      bcc: 'audit@rgz.bj',
      reply_to: 'ops@rgz.bj',
    });
    // Headers are decided at accept time by other features (List-Unsubscribe, …): set them as they would.
    await t.services.db
      .updateTable('email_messages')
      .set({
        headers: JSON.stringify({ 'List-Unsubscribe': '<mailto:unsub@rgz.bj>', 'X-Postier-Category': 'incident' }),
      })
      .where('id', '=', id!)
      .execute();
    run();
    await waitForStatus(t, [id!], ['sent']);
    const got = sink.accepted[0]!;
    expect(got.envelope.to.sort()).toEqual(['audit@rgz.bj', 'chef@rgz.bj', 'noc@rgz.bj']);
    const mail = await sink.parse(got);
    expect(mail.cc).toMatchObject({ value: [{ address: 'chef@rgz.bj' }] });
    expect(mail.bcc).toBeUndefined();
    expect(got.raw.toString()).not.toMatch(/audit@rgz\.bj/);
    expect(mail.replyTo?.value).toEqual([{ name: '', address: 'ops@rgz.bj' }]);
    expect(got.raw.toString()).toMatch(/^List-Unsubscribe: <mailto:unsub@rgz\.bj>\r$/m);
    expect(mail.headers.get('x-postier-category')).toBe('incident');
    expect(mail.subject).toBe('⚠️ ALERTE CRITIQUE RGZ — INC-2026-000847');
  });

  it('retries 451 and 421 with backoff (421, the relay closing, spends no attempt), then records sent with the provider id, the same bytes and Message-ID on every attempt', async () => {
    sink.on('message', (ctx) => ({
      reply:
        ['451 Try again later', '421 Too busy'][ctx.message!.seen - 1] ?? '250 Ok 0100018d9c1b2a3e-5a6b7c8d-ses-000000',
    }));
    run();
    const [id] = await sendOk(t, invoiceExample());
    await waitForStatus(t, [id!], ['sent']);
    const row = await messageRow(t, id!);
    expect(sink.messages.map((m) => m.seen)).toEqual([1, 2, 3]);
    expect(new Set(sink.messages.map((m) => m.messageId))).toEqual(new Set([row.smtp_message_id]));
    // Built once: MIME boundaries are random per build, so identical bytes mean no rebuild.
    expect(sink.messages[1]!.raw.equals(sink.messages[0]!.raw)).toBe(true);
    expect(sink.messages[2]!.raw.equals(sink.messages[0]!.raw)).toBe(true);
    expect(row).toMatchObject({
      status: 'sent',
      attempts: 2,
      provider_message_id: '0100018d9c1b2a3e-5a6b7c8d-ses-000000',
      smtp_response: '250 Ok 0100018d9c1b2a3e-5a6b7c8d-ses-000000',
    });
    expect(await eventTypes(t, id!)).toEqual([
      'queued',
      'sending',
      'attempt',
      'retry_scheduled',
      'sending',
      'attempt',
      'retry_scheduled',
      'sending',
      'attempt',
      'sent',
    ]);
    // 421 is the relay closing the channel (a relay problem): on record, not counted against the message.
    const attempts = await attemptEvents(t, id!);
    expect(attempts.map((a) => [a.attempt, a.code])).toEqual([
      [1, 451],
      [2, 421],
      [2, 250],
    ]);
    expect(attempts.map((a) => (a as { relay_problem?: string }).relay_problem)).toEqual([
      undefined,
      'unavailable',
      undefined,
    ]);
  });

  it('fails a 550 at once, without retry, and POST …/retry puts it back in the queue', async () => {
    sink.on('message', (ctx) => (ctx.message!.seen === 1 ? { reply: '550 Mailbox unavailable' } : undefined));
    run();
    const [id] = await sendOk(t, invoiceExample());
    await waitForStatus(t, [id!], ['failed']);
    let row = await messageRow(t, id!);
    expect(row).toMatchObject({ status: 'failed', attempts: 1, next_attempt_at: null });
    expect(row.error_message).toMatch(/^Permanent failure on attempt 1: 550 Mailbox unavailable/);
    expect(sink.messages).toHaveLength(1);
    expect(await eventTypes(t, id!)).toEqual(['queued', 'sending', 'attempt', 'failed']);

    const retried = await t.inject({ method: 'POST', url: `/api/v1/email/messages/${id}/retry` });
    expect(retried.statusCode).toBe(200);
    expect(retried.json()).toEqual({ id, status: 'queued' });
    await waitForStatus(t, [id!], ['sent']);
    row = await messageRow(t, id!);
    expect(row).toMatchObject({ status: 'sent', attempts: 1, error_message: null });
    expect((await eventTypes(t, id!)).slice(4)).toEqual(['retried', 'sending', 'attempt', 'sent']);
    expect(sink.acceptedCount(row.smtp_message_id)).toBe(1);
  });

  it('refuses to retry a message that is not failed (409), an unknown one (404), a bad id (400), and without admin (401)', async () => {
    run();
    const [id] = await sendOk(t, invoiceExample());
    await waitForStatus(t, [id!], ['sent']);
    const sent = await t.inject({ method: 'POST', url: `/api/v1/email/messages/${id}/retry` });
    expect(sent.statusCode).toBe(409);
    expect(sent.json().error).toMatchObject({ code: 'invalid_state', details: { status: 'sent' } });
    const unknown = await t.inject({
      method: 'POST',
      url: '/api/v1/email/messages/0190c4a2-0000-7000-8000-000000000000/retry',
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('message_not_found');
    expect((await t.inject({ method: 'POST', url: '/api/v1/email/messages/nope/retry' })).statusCode).toBe(400);
    expect(
      (await t.inject({ method: 'POST', url: `/api/v1/email/messages/${id}/retry`, token: null })).statusCode,
    ).toBe(401);
  });

  it('retries a dropped connection and a timeout, then fails with error_message when attempts are spent', async () => {
    // Invoice: max_attempts 3. Attempt 1 the connection is cut, 2 the relay outlasts the 1 s timeout, 3 answers 451.
    sink.on(
      'message',
      (ctx) => [{ drop: true }, { delayMs: 2500 }][ctx.message!.seen - 1] ?? { reply: '451 Greylisted' },
    );
    run();
    const [id] = await sendOk(t, invoiceExample());
    await waitForStatus(t, [id!], ['failed']);
    const row = await messageRow(t, id!);
    expect(row.attempts).toBe(3);
    expect(row.error_message).toBe('Gave up after 3 attempts; last: 451 Greylisted');
    const attempts = await attemptEvents(t, id!);
    expect(attempts.map((a) => a.code)).toEqual([null, null, 451]);
    expect(attempts[0]!.error_code).toMatch(/^E/);
    expect(attempts[1]!.error_code).toBe('ETIMEDOUT');
    expect(await eventTypes(t, id!)).toEqual([
      'queued',
      'sending',
      'attempt',
      'retry_scheduled',
      'sending',
      'attempt',
      'retry_scheduled',
      'sending',
      'attempt',
      'failed',
    ]);
  });

  it('leases an urgent message queued behind a backlog before the backlog', async () => {
    const backlog: string[] = [];
    for (let i = 0; i < 2; i++) {
      backlog.push(
        ...(await sendOk(t, {
          ...invoiceExample(),
          to: Array.from({ length: 50 }, (_, j) => `r${i}-${j}@example.com`),
        })),
      );
    }
    const [urgent] = await sendOk(t, { ...incidentExample(), to: 'noc@rgz.bj' });
    const urgentRow = await messageRow(t, urgent!);
    run({ batchSize: 10, concurrency: 1 });
    await waitForStatus(t, [...backlog, urgent!], ['sent'], 30_000);
    expect(sink.accepted[0]!.messageId).toBe(urgentRow.smtp_message_id);
    expect(sink.accepted).toHaveLength(101);
  });

  it('on stop, finishes the sends in flight and releases the rest of its leases', async () => {
    sink.on('message', { delayMs: 400 });
    const ids = await sendOk(t, {
      ...invoiceExample(),
      to: Array.from({ length: 8 }, (_, j) => `drain${j}@example.com`),
    });
    const w = run({ concurrency: 2 });
    await sink.waitFor(() => sink.messages.length >= 2, 10_000, 'two sends in flight');
    await w.stop();
    worker = null;
    const rows = await t.services.db
      .selectFrom('email_messages')
      .select(['id', 'status', 'attempts', 'lease_owner'])
      .where('id', 'in', ids)
      .execute();
    const sent = rows.filter((r) => r.status === 'sent');
    const queued = rows.filter((r) => r.status === 'queued');
    expect(sent).toHaveLength(2);
    expect(queued).toHaveLength(6);
    expect(queued.every((r) => r.attempts === 0 && r.lease_owner === null)).toBe(true);
    expect(await eventTypes(t, queued[0]!.id)).toEqual(['queued', 'sending', 'released']);
    expect(sink.messages).toHaveLength(2);
  });
});
