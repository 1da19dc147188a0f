import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { replyText } from '../src/delivery/outcome.js';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import type { Worker } from '../src/delivery/worker.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { attemptEvents, eventData, messageRow, sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { SmtpSink } from './support/smtp-sink.js';

/**
 * What a relay says ends up in smtp_response, error_message, provider_message_id,
 * recipient_status, the events and relay_status. Whatever it says (a NUL, a queue id of 300
 * characters, a reply of 8,000 lines, a thousand-character refusal for each of many
 * recipients), the result is recorded, once, on both databases, and stays small. On PostgreSQL
 * a NUL (text cannot hold one) or a queue id over varchar(255) made the statement that records
 * the batch of results fail: nothing was recorded, the messages stayed `sending` until their
 * lease expired, then went out again, once per lease, to a relay that had taken them.
 */
describe.each(backends)('relay reply texts on %s', (backend) => {
  let t: TestContext;
  let relay: SmtpSink;
  let worker: Worker | null = null;

  beforeAll(async () => {
    relay = await SmtpSink.start();
    t = await createTestContext(
      backend,
      relay.env({
        SMTP_TIMEOUT_SECONDS: '2',
        SMTP_DATA_TIMEOUT_SECONDS: '2',
        WORKER_POLL_MS: '20',
        WORKER_RETRY_BASE_SECONDS: '0.05',
        WORKER_RETRY_MAX_SECONDS: '0.2',
        // The lease outlives the test: a result not recorded shows as `sending`, not as a resend.
        WORKER_LEASE_SECONDS: '600',
      }),
    );
  });
  afterEach(async () => {
    await worker?.stop();
    worker = null;
    relay.reset();
  });
  afterAll(async () => {
    await t.close();
    await relay.close();
  });

  const run = () => {
    worker = startWorker(t.services, smtpTarget(t.services, null), {});
  };
  const single = (to: string) => ({ ...incidentExample(), to });

  it('records a reply to the final dot holding a NUL, with the other results of its batch, each message sent once', async () => {
    relay.on(
      'message',
      { reply: '250 2.0.0 Ok\u0000 queued as NUL42' },
      { match: (c) => c.session.recipients.includes('nul@rgz.bj') },
    );
    const ids = [
      ...(await sendOk(t, single('before@rgz.bj'))),
      ...(await sendOk(t, single('nul@rgz.bj'))),
      ...(await sendOk(t, single('after@rgz.bj'))),
    ];
    run();
    await waitForStatus(t, ids, ['sent'], 15_000);
    const row = await messageRow(t, ids[1]!);
    expect(row.smtp_response).toBe('250 2.0.0 Ok\uFFFD queued as NUL42');
    expect(row.provider_message_id).toBe('NUL42');
    expect((await attemptEvents(t, ids[1]!)).map((a) => a.response)).toEqual(['250 2.0.0 Ok\uFFFD queued as NUL42']);
    for (const a of ['before@rgz.bj', 'nul@rgz.bj', 'after@rgz.bj']) expect(relay.deliveredTo(a)).toBe(1);
  });

  it('records a refusal holding a NUL and invalid UTF-8 as a failure, and a relay problem text in relay_status', async () => {
    relay.on('rcpt', { reply: '550 5.1.1 No such user\u0000 \uFFFE here' }, { match: 'gone@' });
    relay.on('mail', { reply: '530 5.7.0 Authentication required\u0000' }, { times: 1 });
    const [gone] = await sendOk(t, single('gone@rgz.bj'));
    run();
    await waitForStatus(t, [gone!], ['failed'], 15_000);
    const row = await messageRow(t, gone!);
    expect(row.error_message).toBe('Permanent failure on attempt 1: 550 5.1.1 No such user\uFFFD \uFFFE here');
    expect(row.smtp_response).not.toContain('\u0000');
    await worker!.stop();
    const relays = await t.services.db.selectFrom('relay_status').selectAll().execute();
    expect(relays.find((r) => r.name === 'relay')?.last_problem).toBe('530 5.7.0 Authentication required\uFFFD');
  });

  it('sends again, with the same Message-ID, a message whose connection closed right after its final dot (the ambiguous case)', async () => {
    relay.on('message', { drop: true }, { times: 1 });
    const [id] = await sendOk(t, single('cut@rgz.bj'));
    run();
    await waitForStatus(t, [id!], ['sent'], 15_000);
    const tries = (await attemptEvents(t, id!)) as Array<{ attempt: number; phase?: string; error_code?: string }>;
    expect(tries.map((a) => [a.attempt, a.phase ?? null, a.error_code ?? null])).toEqual([
      [1, 'data_end', 'ECONNECTION'],
      [2, null, null],
    ]);
    // The relay had the whole message both times: a receiver deduplicates by the Message-ID.
    expect(relay.messages.map((m) => [m.messageId, m.seen, m.accepted])).toEqual([
      [relay.messages[0]!.messageId, 1, false],
      [relay.messages[0]!.messageId, 2, true],
    ]);
    expect(await messageRow(t, id!)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('fails for good a message whose recipient was accepted and whose DATA was refused with 5xx; a 421 after the final dot spends nothing', async () => {
    relay.on(
      'data',
      { reply: '554 5.6.0 Content refused' },
      { match: (c) => c.session.recipients.includes('refused-data@rgz.bj') },
    );
    relay.on(
      'message',
      { reply: '421 4.3.2 Shutting down' },
      { match: (c) => c.session.recipients.includes('closing@rgz.bj'), times: 1 },
    );
    const [refused] = await sendOk(t, single('refused-data@rgz.bj'));
    const [closing] = await sendOk(t, single('closing@rgz.bj'));
    run();
    await waitForStatus(t, [refused!], ['failed'], 15_000);
    await waitForStatus(t, [closing!], ['sent'], 15_000);
    expect(await messageRow(t, refused!)).toMatchObject({
      attempts: 1,
      error_message: 'Permanent failure on attempt 1: 554 5.6.0 Content refused',
    });
    expect(relay.deliveredTo('refused-data@rgz.bj')).toBe(0);
    const tries = (await attemptEvents(t, closing!)) as Array<{
      attempt: number;
      phase?: string;
      relay_problem?: string;
    }>;
    expect(tries.map((a) => [a.attempt, a.phase ?? null, a.relay_problem ?? null])).toEqual([
      [1, 'data_end', 'unavailable'],
      [1, null, null],
    ]);
    expect(await messageRow(t, closing!)).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it('keeps no provider id longer than its column, and records the send', async () => {
    relay.on('message', { reply: `250 2.0.0 Ok: queued as ${'Q'.repeat(300)}` });
    const [id] = await sendOk(t, single('longid@rgz.bj'));
    run();
    await waitForStatus(t, [id!], ['sent'], 15_000);
    expect(await messageRow(t, id!)).toMatchObject({ status: 'sent', provider_message_id: null });
    expect(relay.deliveredTo('longid@rgz.bj')).toBe(1);
  });

  it('keeps the start and the end of an 8,000-line reply, no more than about 2,000 characters', async () => {
    const lines = Array.from({ length: 8000 }, (_, i) => `250-${i}`);
    relay.on('message', { reply: [...lines, '250 2.0.0 Ok: queued as LONG42'].join('\n') });
    const [id] = await sendOk(t, single('long@rgz.bj'));
    run();
    await waitForStatus(t, [id!], ['sent'], 15_000);
    const row = await messageRow(t, id!);
    expect(row.smtp_response!.length).toBeLessThanOrEqual(2000);
    expect(row.smtp_response).toMatch(/^250-0\n250-1\n/);
    expect(row.smtp_response).toMatch(/characters cut …\]\n[\s\S]*\n250 2\.0\.0 Ok: queued as LONG42$/);
    expect(row.provider_message_id).toBe('LONG42');
    const [sent] = await eventData<{ smtp_response: string }>(t, id!, 'sent');
    expect(sent!.smtp_response).toBe(row.smtp_response);
  });

  it('names a few of many refused recipients in error_message, each reply cut, and keeps every reply in recipient_status', async () => {
    const long = `550 5.1.1 ${'unknown user '.repeat(400)}`;
    relay.on('rcpt', { reply: long }, { match: 'nobody' });
    const to = Array.from({ length: 12 }, (_, i) => `nobody${i}@rgz.bj`);
    const [id] = await sendOk(t, { ...incidentExample(), to: 'ok@rgz.bj', cc: to.join(',') });
    run();
    await waitForStatus(t, [id!], ['partially_sent'], 15_000);
    const row = await messageRow(t, id!);
    expect(row.error_message).toMatch(
      /^1 of 13 recipients accepted; not delivered: nobody0@rgz\.bj \(refused: 550 5\.1\.1 unknown user/,
    );
    expect(row.error_message).toContain('; and 7 more. Permanent failure on attempt 1');
    expect(row.error_message!.length).toBeLessThan(6 * 2000);
    const status = JSON.parse(row.recipient_status!) as Record<string, { status: string; response: string }>;
    for (const a of to) {
      expect(status[a]!.status).toBe('refused');
      expect(status[a]!.response).toBe(replyText(long));
    }
    expect(replyText(long).length).toBeLessThanOrEqual(2000);
  });
});

describe('replyText', () => {
  it('cuts a long reply between characters, never through a surrogate pair', () => {
    // An emoji (two UTF-16 units) straddles both cuts: at 1,000 from the start, 900 from the end.
    const pad = (n: number) => 'x'.repeat(n);
    const reply = `${pad(999)}😀${pad(3000)}😀${pad(899)}`;
    const text = replyText(reply);
    expect(text).not.toContain('\uFFFD');
    expect(text.startsWith(pad(999))).toBe(true);
    expect(text.endsWith(pad(899))).toBe(true);
    expect(text.length).toBeLessThanOrEqual(2000);
    // What was cut is counted exactly: the reply's length less what was kept on either side.
    const kept = /^(x*)\n\[… (\d+) characters cut …\]\n(x*)$/.exec(text)!;
    expect(Number(kept[2]) + kept[1]!.length + kept[3]!.length).toBe(reply.length);
    // A reply that fits is kept as it is.
    expect(replyText('250 2.0.0 Ok: queued as 😀')).toBe('250 2.0.0 Ok: queued as 😀');
  });
});
