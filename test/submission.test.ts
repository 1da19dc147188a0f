import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SubmissionServer } from '../src/accept/submission/index.js';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import type { Worker } from '../src/delivery/worker.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { waitForStatus } from './helpers/delivery.js';
import { SmtpTalk } from './helpers/smtp-talk.js';
import { messageCount, mime, sendKey, startSubmissionFor } from './helpers/submission.js';
import { SmtpSink } from './support/smtp-sink.js';

describe.each(backends)('SMTP submission on %s', (backend) => {
  let t: TestContext;
  let sink: SmtpSink;
  let server: SubmissionServer;
  let worker: Worker | null = null;
  let token: string;

  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext(
      backend,
      sink.env({
        SUBMISSION_PORT: '0',
        SUBMISSION_TLS_PORT: '0',
        SUBMISSION_MAX_BYTES: '65536',
        SUBMISSION_MAX_RECIPIENTS: '3',
        WORKER_POLL_MS: '20',
      }),
    );
    server = await startSubmissionFor(t, { loginDelayStepMs: 1 });
    ({ token } = await sendKey(t));
  });
  afterEach(async () => {
    await worker?.stop();
    worker = null;
    sink.reset();
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
    await sink?.close();
  });

  const deliver = () => {
    worker = startWorker(t.services, smtpTarget(t.services, null));
  };

  const rowsFor = (messageId: string) =>
    t.services.db
      .selectFrom('email_messages')
      .selectAll()
      .where('smtp_message_id', '=', messageId)
      .orderBy('recipient_email')
      .execute();

  it('answers 250 only once every message of the envelope is stored, and delivers the client MIME to each recipient alone, without Bcc or X-Postier-*', async () => {
    const talk = await SmtpTalk.connect(server.port);
    expect(await talk.command('EHLO erp.rgz.bj')).toMatch(/250[- ]SIZE 65536/);
    expect((await talk.starttls()).startsWith('220')).toBe(true);
    await talk.command('EHLO erp.rgz.bj');
    expect(await talk.login(token)).toMatch(/^235/);
    const raw = mime({
      To: 'client@example.org',
      Cc: 'accounting@example.org',
      Bcc: 'audit@rgz.bj',
      'Message-ID': '<inv-0001@erp.rgz.bj>',
      'X-Postier-Category': 'billing',
      'X-Postier-Tags': 'invoice, erp',
      'X-Postier-Metadata': '{"invoice":"INV-2026-0001","amount":450000}',
    });
    const reply = await talk.send(
      'billing@rgz.bj',
      ['client@example.org', 'accounting@example.org', 'audit@rgz.bj'],
      raw,
    );
    expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as <inv-0001@erp\.rgz\.bj> \(3 messages/);
    // Read on another connection right after the reply: committed.
    const rows = await rowsFor('<inv-0001@erp.rgz.bj>');
    expect(rows.map((r) => r.recipient_email)).toEqual([
      'accounting@example.org',
      'audit@rgz.bj',
      'client@example.org',
    ]);
    for (const r of rows) {
      expect(r).toMatchObject({
        status: 'queued',
        source: 'smtp',
        category: 'billing',
        class: 'transactional',
        template_key: null,
        subject: 'Invoice INV-2026-0001',
        from_email: 'billing@rgz.bj',
        from_name: 'Odoo',
        tags: JSON.stringify(['invoice', 'erp']),
        metadata: JSON.stringify({ invoice: 'INV-2026-0001', amount: 450000 }),
        text_content: 'Hello from the ERP.\n',
      });
      expect(r.raw_sha256).toBe(rows[0]!.raw_sha256);
    }
    const blob = await t.services.db
      .selectFrom('content_blob_parts')
      .select('data')
      .where('sha256', '=', rows[0]!.raw_sha256!)
      .executeTakeFirstOrThrow();
    expect(Buffer.from(blob.data).toString('latin1')).toBe(raw);
    talk.close();

    deliver();
    await waitForStatus(
      t,
      rows.map((r) => r.id),
      ['sent'],
    );
    expect(sink.accepted).toHaveLength(3);
    for (const got of sink.accepted) {
      expect(got.envelope.to).toHaveLength(1);
      expect(got.envelope.from).toBe('billing@rgz.bj');
      const text = got.raw.toString('latin1');
      expect(text).not.toMatch(/^Bcc:/im);
      expect(text).not.toMatch(/^X-Postier-/im);
      // The client's bytes exactly, but for the fields that were for Postier (or hidden copies).
      expect(text).toBe(raw.replace(/^(Bcc|X-Postier-[A-Za-z]+): [^\r]*\r\n/gm, ''));
      const parsed = await simpleParser(got.raw);
      expect(parsed.messageId).toBe('<inv-0001@erp.rgz.bj>');
      expect(parsed.from?.value).toEqual([{ name: 'Odoo', address: 'billing@rgz.bj' }]);
    }
    expect(sink.accepted.map((m) => m.envelope.to[0]).sort()).toEqual([
      'accounting@example.org',
      'audit@rgz.bj',
      'client@example.org',
    ]);
  });

  it('makes one Message-ID for a message that has none, and adds it (and a Date) to what is delivered', async () => {
    const talk = await SmtpTalk.connect(server.tlsPort!, { tls: true });
    await talk.command('EHLO erp.rgz.bj');
    expect(await talk.login(token)).toMatch(/^235/);
    const reply = await talk.send(
      'billing@rgz.bj',
      ['a@example.org', 'b@example.org'],
      mime({ 'Message-ID': '', Date: '' }),
    );
    const made = /queued as (<[^>]+>)/.exec(reply)?.[1];
    expect(made).toMatch(/^<[0-9a-f-]{36}@rgz\.bj>$/);
    talk.close();
    const rows = await rowsFor(made!);
    expect(rows).toHaveLength(2);
    deliver();
    await waitForStatus(
      t,
      rows.map((r) => r.id),
      ['sent'],
    );
    for (const got of sink.accepted) {
      const parsed = await simpleParser(got.raw);
      expect(parsed.messageId).toBe(made);
      expect(parsed.date?.getTime()).toBe(rows[0]!.created_at - (rows[0]!.created_at % 1000));
    }
  });

  it('refuses recipients without a login (530), wrong keys (535), and then the address for a while (454)', async () => {
    const talk = await SmtpTalk.connect(server.port);
    await talk.command('EHLO x');
    expect(await talk.command('MAIL FROM:<billing@rgz.bj>')).toMatch(/^250/);
    expect(await talk.command('RCPT TO:<victim@example.org>')).toBe('530 5.7.0 auth_required: Authentication required');
    const before = await messageCount(t);
    for (let i = 0; i < 5; i++)
      expect(await talk.login(`pst_wrong_${i}`)).toBe('535 5.7.8 Authentication credentials invalid');
    // Locked now: even the right key is refused from this address.
    const again = await SmtpTalk.connect(server.port);
    await again.command('EHLO x');
    expect(await again.login(token)).toMatch(/^454 4\.7\.0 too_many_failures/);
    const metrics = await (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/postier_submission_auth_failures_total\{kind="invalid"\} [1-9]/);
    expect(metrics).toMatch(/postier_submission_auth_failures_total\{kind="locked"\} [1-9]/);
    expect(await messageCount(t)).toBe(before);
    talk.close();
    again.close();
  });
});
