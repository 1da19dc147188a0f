import { simpleParser } from 'mailparser';
import { withBodies } from '../src/content/index.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SubmissionServer } from '../src/accept/submission/index.js';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import type { Worker } from '../src/delivery/worker.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { waitForStatus } from './helpers/delivery.js';
import { SmtpTalk } from './helpers/smtp-talk.js';
import { ingested, messageCount, mime, sendKey, startSubmissionFor } from './helpers/submission.js';
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

  // With their bodies, wherever they are stored (content/bodies.ts).
  const rowsFor = async (messageId: string) => {
    await ingested(t);
    return withBodies(
      t.services.db,
      await t.services.db
        .selectFrom('email_messages')
        .selectAll()
        .where('smtp_message_id', '=', messageId)
        .orderBy('recipient_email')
        .execute(),
    );
  };

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
      'Resent-Bcc': 'audit@rgz.bj',
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
      expect(text).not.toMatch(/^(Resent-)?Bcc:/im);
      expect(text).not.toMatch(/^X-Postier-/im);
      // The client's bytes exactly, but for the fields that were for Postier (or hidden copies).
      expect(text).toBe(raw.replace(/^(Bcc|Resent-Bcc|X-Postier-[A-Za-z]+): [^\r]*\r\n/gm, ''));
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
    // A listener of its own: the lockout of 127.0.0.1 would refuse the other tests' logins.
    const own = await startSubmissionFor(t, { loginDelayStepMs: 1 });
    const talk = await SmtpTalk.connect(own.port);
    await talk.command('EHLO x');
    expect(await talk.command('MAIL FROM:<billing@rgz.bj>')).toMatch(/^250/);
    expect(await talk.command('RCPT TO:<victim@example.org>')).toBe('530 5.7.0 auth_required: Authentication required');
    const before = await messageCount(t);
    for (let i = 0; i < 5; i++)
      expect(await talk.login(`pst_wrong_${i}`)).toBe('535 5.7.8 Authentication credentials invalid');
    // Locked now: even the right key is refused from this address.
    const again = await SmtpTalk.connect(own.port);
    await again.command('EHLO x');
    expect(await again.login(token)).toMatch(/^454 4\.7\.0 too_many_failures/);
    const metrics = await (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/postier_submission_auth_failures_total\{kind="invalid"\} [1-9]/);
    expect(metrics).toMatch(/postier_submission_auth_failures_total\{kind="locked"\} [1-9]/);
    expect(await messageCount(t)).toBe(before);
    talk.close();
    again.close();
    await own.close();
  });

  /** A logged-in session over STARTTLS. */
  const session = async () => {
    const talk = await SmtpTalk.connect(server.port);
    await talk.command('EHLO erp.rgz.bj');
    await talk.starttls();
    await talk.command('EHLO erp.rgz.bj');
    expect(await talk.login(token)).toMatch(/^235/);
    return talk;
  };

  it.each([
    ['a NUL byte', mime({}, 'Total\0 450000\r\n'), /^554 5\.6\.0 nul_byte/],
    ['a bare LF', mime({}, 'line one\nline two\r\n'), /^554 5\.6\.0 bare_lf/],
    ['a bare CR', mime({}, 'line one\rline two\r\n'), /^554 5\.6\.0 bare_cr/],
    ['a line over 998 octets', mime({}, `${'x'.repeat(999)}\r\n`), /^554 5\.6\.0 line_too_long/],
    ['8-bit bytes in a header', mime({ Subject: 'Facture f\xe9vrier' }), /^554 5\.6\.0 8bit_header/],
    ['a header line that is not a field', mime({}).replace('Subject:', 'Subject'), /^554 5\.6\.0 malformed_header/],
    ['no From field', mime({ From: '' }), /^554 5\.6\.0 malformed_header/],
    [
      'two senders in From',
      mime({ From: 'a@rgz.bj, b@rgz.bj' }),
      /^554 5\.6\.0 malformed_header: From must name exactly one/,
    ],
    ['a malformed Message-ID', mime({ 'Message-ID': 'not an id' }), /^554 5\.6\.0 malformed_header: Message-ID/],
    [
      'a punycode domain mailparser reads as an allowed one',
      mime({ From: 'Billing <billing@xn--rgz-.bj>' }),
      /^554 5\.6\.0 malformed_header: From reads as "billing@rgz\.bj", which the field does not write/,
    ],
    [
      'an unknown X-Postier field',
      mime({ 'X-Postier-Categroy': 'billing' }),
      /^554 5\.6\.0 invalid_header_value: X-Postier-Categroy/,
    ],
    [
      'metadata that is not JSON',
      mime({ 'X-Postier-Metadata': '{invoice:1}' }),
      /^554 5\.6\.0 invalid_header_value: X-Postier-Metadata: not valid JSON/,
    ],
    [
      'a send time in the past',
      mime({ 'X-Postier-Send-At': '2020-01-01T00:00:00Z' }),
      /^554 5\.6\.0 validation_failed: send_at is in the past/,
    ],
    ['an unknown template', mime({ 'X-Postier-Template': 'no_such_template' }), /^554 5\.6\.0 template_not_found/],
  ])(
    'refuses a message with %s with an enhanced code, stores nothing, and keeps the session usable',
    async (_what, raw, expected) => {
      const talk = await session();
      const before = await messageCount(t);
      expect(await talk.send('billing@rgz.bj', ['client@example.org'], raw)).toMatch(expected);
      expect(await messageCount(t)).toBe(before);
      // The same session goes on: the next good message is accepted.
      expect(await talk.send('billing@rgz.bj', ['client@example.org'], mime({}))).toMatch(/^250 2\.0\.0/);
      expect(await messageCount(t)).toBe(before + 1);
      talk.close();
    },
  );

  it('advertises SIZE and refuses a larger message with 552 5.3.4, storing nothing', async () => {
    const talk = await session();
    const before = await messageCount(t);
    const big = mime({}, `${'y'.repeat(900)}\r\n`.repeat(80));
    expect(await talk.send('billing@rgz.bj', ['client@example.org'], big)).toMatch(/^552 5\.3\.4 too_large/);
    expect(await messageCount(t)).toBe(before);
    talk.close();
  });

  it('refuses recipients beyond SUBMISSION_MAX_RECIPIENTS with 452 4.5.3 and accepts the message for the others', async () => {
    const talk = await session();
    expect(await talk.command('MAIL FROM:<billing@rgz.bj>')).toMatch(/^250/);
    for (const r of ['r1@example.org', 'r2@example.org', 'r3@example.org'])
      expect(await talk.command(`RCPT TO:<${r}>`)).toMatch(/^250/);
    expect(await talk.command('RCPT TO:<r4@example.org>')).toMatch(/^452 4\.5\.3 too_many_recipients/);
    expect(await talk.command('RCPT TO:<not an address>')).toMatch(/^5\d\d /);
    expect(await talk.command('DATA')).toMatch(/^354/);
    talk.write(`${mime({ 'Message-ID': '<four@erp.rgz.bj>' })}.\r\n`);
    expect(await talk.reply()).toMatch(/^250 2\.0\.0 Ok: queued as <four@erp\.rgz\.bj> \(3 messages/);
    expect(await rowsFor('<four@erp.rgz.bj>')).toHaveLength(3);
    talk.close();
  });

  it('refuses SMTPUTF8 on MAIL FROM, which it does not advertise, with 555 5.5.4; the session goes on', async () => {
    const talk = await session();
    expect(await talk.command('EHLO client.example')).not.toMatch(/SMTPUTF8/);
    expect(await talk.command('MAIL FROM:<billing@rgz.bj> SMTPUTF8')).toMatch(/^555 5\.5\.4 smtputf8_unsupported/);
    expect(await talk.command('MAIL FROM:<billing@rgz.bj>')).toMatch(/^250/);
    talk.close();
  });

  it('stores nothing for a client that disconnects in the middle of DATA', async () => {
    const talk = await session();
    const before = await messageCount(t);
    expect(await talk.command('MAIL FROM:<billing@rgz.bj>')).toMatch(/^250/);
    expect(await talk.command('RCPT TO:<client@example.org>')).toMatch(/^250/);
    expect(await talk.command('DATA')).toMatch(/^354/);
    talk.write(mime({ 'Message-ID': '<cut@erp.rgz.bj>' }).slice(0, 150));
    talk.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(await messageCount(t)).toBe(before);
    expect(await rowsFor('<cut@erp.rgz.bj>')).toHaveLength(0);
    const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/postier_submission_messages_total\{result="refused",reason="disconnected"\} [1-9]/);
  });

  it('answers a client that talks before the greeting with 421 and closes', async () => {
    const talk = await SmtpTalk.connect(server.port, { greet: false });
    talk.write('EHLO early.example\r\nMAIL FROM:<spam@example.org>\r\n');
    const first = await talk.reply();
    // The greeting may have been written before the commands arrived; the refusal follows it then.
    const refusal = first.startsWith('220') ? await talk.reply() : first;
    expect(refusal).toMatch(/^421 .*talk too soon/i);
    talk.close();
  });

  it('refuses a sender the key may not use: 550 5.7.1 at MAIL FROM, at the From field and at the Sender field', async () => {
    const limited = await sendKey(t, 'limited');
    await t.services.db
      .updateTable('api_keys')
      .set({ allowed_from: JSON.stringify(['rgz.bj']) })
      .where('id', '=', limited.id)
      .execute();
    const talk = await SmtpTalk.connect(server.port);
    await talk.command('EHLO x');
    expect(await talk.login(limited.token)).toMatch(/^235/);
    expect(await talk.command('MAIL FROM:<ceo@elsewhere.example>')).toMatch(/^550 5\.7\.1 from_not_allowed/);
    await talk.command('RSET');
    expect(await talk.send('billing@rgz.bj', ['client@example.org'], mime({ From: 'ceo@elsewhere.example' }))).toMatch(
      /^550 5\.7\.1 from_not_allowed/,
    );
    // Sender (who sent it on the From's behalf) is an identity too.
    for (const sender of [
      'ceo@elsewhere.example',
      '"CEO" <ceo@elsewhere.example>',
      '=?utf-8?Q?C=C3=A9o?= <ceo@elsewhere.example>',
    ])
      expect(await talk.send('billing@rgz.bj', ['client@example.org'], mime({ Sender: sender }))).toMatch(
        /^550 5\.7\.1 from_not_allowed/,
      );
    expect(await talk.send('billing@rgz.bj', ['client@example.org'], mime({ Sender: 'a, b' }))).toMatch(
      /^554 5\.6\.0 malformed_header/,
    );
    expect(await talk.send('billing@rgz.bj', ['client@example.org'], mime({ Sender: 'ops@rgz.bj' }))).toMatch(/^250/);
    expect(await talk.send('billing@rgz.bj', ['client@example.org'], mime({}))).toMatch(/^250/);
    talk.close();
  });

  it('refuses a sender outside FROM_ALLOWED_DOMAINS to a key with no list of its own, as the HTTP API does', async () => {
    const talk = await session();
    expect(await talk.command('MAIL FROM:<ceo@elsewhere.example>')).toMatch(/^550 5\.7\.1 from_not_allowed/);
    await talk.command('RSET');
    expect(await talk.send('billing@rgz.bj', ['client@example.org'], mime({ From: 'ceo@elsewhere.example' }))).toMatch(
      /^550 5\.7\.1 from_not_allowed: This installation may not send as ceo@elsewhere\.example/,
    );
    talk.close();
  });

  it('refuses AUTH in clear text from an address that is not loopback', async () => {
    const { networkInterfaces } = await import('node:os');
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
    if (!outside) return;
    const { createTestContext: create } = await import('./helpers/context.js');
    const other = await create(backend, { SUBMISSION_PORT: '0', SUBMISSION_HOST: '0.0.0.0' });
    const listener = await startSubmissionFor(other);
    try {
      const { token: key } = await sendKey(other);
      const talk = await SmtpTalk.connect(listener.port, { host: outside });
      await talk.command('EHLO x');
      expect(await talk.login(key)).toMatch(/^530 5\.7\.0 tls_required/);
      expect(await talk.command('RCPT TO:<client@example.org>')).toMatch(/^(530|503)/);
      await talk.starttls();
      await talk.command('EHLO x');
      expect(await talk.login(key)).toMatch(/^235/);
      talk.close();
    } finally {
      await listener.close();
      await other.close();
    }
  });

  it('checks the key again for each message: a key revoked during a session sends nothing more', async () => {
    const short = await sendKey(t, 'short-lived');
    const talk = await SmtpTalk.connect(server.port);
    await talk.command('EHLO x');
    expect(await talk.login(short.token)).toMatch(/^235/);
    expect(await talk.send('billing@rgz.bj', ['client@example.org'], mime({}))).toMatch(/^250/);
    await t.services.apiKeys.revoke(short.id);
    const before = await messageCount(t);
    expect(await talk.send('billing@rgz.bj', ['client@example.org'], mime({}))).toMatch(/^530 5\.7\.0 key_revoked/);
    expect(await messageCount(t)).toBe(before);
    talk.close();
  });

  it('replays the answer of a retried message with the same X-Postier-Idempotency-Key, and refuses the key with another message', async () => {
    const talk = await session();
    const raw = mime({ 'Message-ID': '<idem@erp.rgz.bj>', 'X-Postier-Idempotency-Key': 'invoice-0001' });
    const first = await talk.send('billing@rgz.bj', ['client@example.org'], raw);
    const again = await talk.send('billing@rgz.bj', ['client@example.org'], raw);
    expect(first).toMatch(/^250/);
    expect(again).toBe(first);
    expect(await rowsFor('<idem@erp.rgz.bj>')).toHaveLength(1);
    const other = raw.replace('Hello from the ERP.', 'Another body');
    expect(await talk.send('billing@rgz.bj', ['client@example.org'], other)).toMatch(
      /^554 5\.6\.0 idempotency_conflict/,
    );
    talk.close();
  });

  it('holds a message with X-Postier-Send-At, and renders a stored template with X-Postier-Template', async () => {
    const talk = await session();
    const at = new Date(Date.now() + 3_600_000);
    expect(
      await talk.send(
        'billing@rgz.bj',
        ['client@example.org'],
        mime({ 'Message-ID': '<later@erp.rgz.bj>', 'X-Postier-Send-At': at.toISOString() }),
      ),
    ).toMatch(/^250/);
    const [later] = await rowsFor('<later@erp.rgz.bj>');
    expect(later!.next_attempt_at).toBe(at.getTime());
    const templated = mime({
      'X-Postier-Template': 'billing_invoice_monthly',
      'X-Postier-Category': 'billing',
      'X-Postier-Tags': 'invoice, february',
      'X-Postier-Metadata': JSON.stringify({ invoice: 'INV-2026-0001' }),
      'X-Postier-Variables': JSON.stringify({
        reseller_name: 'Tech Connect SA',
        month: 'fevrier',
        year: '2026',
        amount_fcfa: '450000',
        link_portal: 'https://admin-rgz.duckdns.org/invoices/latest',
        invoice_number: 'INV-2026-0001',
      }),
    });
    const reply = await talk.send('billing@rgz.bj', ['reseller@techconnect.bj'], templated);
    expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as \(1 message: [0-9a-f-]{36}\)/);
    const id = /\(1 message: ([0-9a-f-]{36})\)/.exec(reply)![1]!;
    const [row] = await withBodies(t.services.db, [
      await t.services.db.selectFrom('email_messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
    ]);
    expect(row).toMatchObject({
      template_key: 'billing_invoice_monthly',
      raw_sha256: null,
      category: 'billing',
      tags: JSON.stringify(['invoice', 'february']),
      metadata: JSON.stringify({ invoice: 'INV-2026-0001' }),
    });
    expect(row!.text_content).toContain('450000');
    talk.close();
  });

  it('admits submitted mail through the same policies: a suppressed recipient is stored as suppressed and not delivered', async () => {
    const added = await t.inject({
      method: 'POST',
      url: '/api/v1/email/suppressions',
      payload: { email: 'gone@example.org' },
    });
    expect(added.statusCode).toBe(201);
    const talk = await session();
    expect(
      await talk.send('billing@rgz.bj', ['gone@example.org'], mime({ 'Message-ID': '<supp@erp.rgz.bj>' })),
    ).toMatch(/^250/);
    const [row] = await rowsFor('<supp@erp.rgz.bj>');
    expect(row!.status).toBe('suppressed');
    talk.close();
  });

  it('resends a submitted message from the archive: the same MIME under a new Message-ID, through the same admission', async () => {
    const talk = await session();
    expect(
      await talk.send(
        'billing@rgz.bj',
        ['again@example.org'],
        mime({ 'Message-ID': '<resend-me@erp.rgz.bj>', 'X-Postier-Category': 'billing' }),
      ),
    ).toMatch(/^250/);
    talk.close();
    const [original] = await rowsFor('<resend-me@erp.rgz.bj>');
    // Resent once it went out (a message still queued is not: it would go twice).
    deliver();
    await waitForStatus(t, [original!.id], ['sent']);
    const res = await t.inject({ method: 'POST', url: `/api/v1/email/messages/${original!.id}/resend` });
    expect(res.statusCode).toBe(201);
    const copyId = res.json().id as string;
    const copy = await t.services.db
      .selectFrom('email_messages')
      .selectAll()
      .where('id', '=', copyId)
      .executeTakeFirstOrThrow();
    expect(copy).toMatchObject({
      raw_sha256: original!.raw_sha256,
      resent_from_id: original!.id,
      source: 'resend',
      category: 'billing',
      recipient_email: 'again@example.org',
      smtp_message_id: `<${copyId}@rgz.bj>`,
    });
    await waitForStatus(t, [original!.id, copyId], ['sent']);
    // The worker delivers what earlier tests left queued too: only these two are looked at.
    const both = sink.accepted.filter((m) => m.envelope.to[0] === 'again@example.org');
    const ids = await Promise.all(both.map(async (m) => (await simpleParser(m.raw)).messageId));
    expect(ids.sort()).toEqual([`<${copyId}@rgz.bj>`, '<resend-me@erp.rgz.bj>'].sort());
    for (const m of both) expect(m.raw.toString('latin1').match(/^Message-ID:/gim)).toHaveLength(1);
  });

  it('erasing a recipient drops the raw MIME once no message holds it', async () => {
    const talk = await session();
    expect(
      await talk.send('billing@rgz.bj', ['erase.me@example.org'], mime({ 'Message-ID': '<erase@erp.rgz.bj>' })),
    ).toMatch(/^250/);
    talk.close();
    const [row] = await rowsFor('<erase@erp.rgz.bj>');
    const sha = row!.raw_sha256!;
    const res = await t.inject({ method: 'POST', url: '/api/v1/email/recipients/erase.me@example.org/erase' });
    expect(res.statusCode).toBe(200);
    const after = await t.services.db
      .selectFrom('email_messages')
      .selectAll()
      .where('id', '=', row!.id)
      .executeTakeFirstOrThrow();
    expect(after.raw_sha256).toBeNull();
    expect(
      await t.services.db.selectFrom('content_blobs').select('sha256').where('sha256', '=', sha).execute(),
    ).toHaveLength(0);
  });

  it('erasing one recipient of a submitted message drops its raw MIME, which names them, from every recipient', async () => {
    const talk = await session();
    expect(
      await talk.send(
        'billing@rgz.bj',
        ['erased.one@example.org', 'kept.two@example.org'],
        mime({ 'Message-ID': '<shared-erase@erp.rgz.bj>', To: 'erased.one@example.org, kept.two@example.org' }),
      ),
    ).toMatch(/^250/);
    talk.close();
    const rows = await rowsFor('<shared-erase@erp.rgz.bj>');
    expect(rows).toHaveLength(2);
    const sha = rows[0]!.raw_sha256!;
    expect(rows[1]!.raw_sha256).toBe(sha);
    const res = await t.inject({ method: 'POST', url: '/api/v1/email/recipients/erased.one@example.org/erase' });
    expect(res.statusCode).toBe(200);
    const after = await t.services.db
      .selectFrom('email_messages')
      .select(['recipient_email', 'raw_sha256', 'subject'])
      .where(
        'id',
        'in',
        rows.map((r) => r.id),
      )
      .execute();
    expect(after.map((r) => r.raw_sha256)).toEqual([null, null]);
    // The other recipient's message keeps what it has of its own.
    expect(after.find((r) => r.recipient_email === 'kept.two@example.org')?.subject).toBe('Invoice INV-2026-0001');
    expect(
      await t.services.db.selectFrom('content_blobs').select('sha256').where('sha256', '=', sha).execute(),
    ).toHaveLength(0);
  });

  it('answers 451 4.3.0 when the database cannot store the message, and the client may retry', async () => {
    const { createTestContext: create } = await import('./helpers/context.js');
    const other = await create(backend, { SUBMISSION_PORT: '0' });
    const listener = await startSubmissionFor(other);
    try {
      const key = await sendKey(other);
      const talk = await SmtpTalk.connect(listener.port);
      await talk.command('EHLO x');
      expect(await talk.login(key.token)).toMatch(/^235/);
      expect(await talk.command('MAIL FROM:<billing@rgz.bj>')).toMatch(/^250/);
      expect(await talk.command('RCPT TO:<client@example.org>')).toMatch(/^250/);
      expect(await talk.command('DATA')).toMatch(/^354/);
      // The storage goes away between the envelope and the final dot.
      await other.services.database.close();
      talk.write(`${mime({})}.\r\n`);
      expect(await talk.reply()).toMatch(/^451 4\.3\.0 unavailable/);
      talk.close();
    } finally {
      await listener.close();
      await other.app.close();
    }
  });

  it('serves a new certificate after its files change, without a restart', async () => {
    const { X509Certificate } = await import('node:crypto');
    const { writeFileSync } = await import('node:fs');
    const { selfSignedCertificate } = await import('../src/accept/submission/self-signed.js');
    const { createTestContext: create } = await import('./helpers/context.js');
    const dir = (await import('node:fs')).mkdtempSync(`${(await import('node:os')).tmpdir()}/postier-cert-`);
    const first = selfSignedCertificate(['first.example']);
    writeFileSync(`${dir}/cert.pem`, first.cert);
    writeFileSync(`${dir}/key.pem`, first.key);
    const other = await create(backend, {
      SUBMISSION_PORT: '0',
      SUBMISSION_TLS_PORT: '0',
      SUBMISSION_TLS_CERT: `${dir}/cert.pem`,
      SUBMISSION_TLS_KEY: `${dir}/key.pem`,
    });
    const listener = await startSubmissionFor(other, { tlsWatchMs: 50 });
    // A handshake that stalls or fails while the files change is asked again, not waited for.
    const peer = async () => {
      const tls = await import('node:tls');
      return new Promise<string>((resolve) => {
        const s = tls.connect({ port: listener.tlsPort!, host: '127.0.0.1', rejectUnauthorized: false }, () => {
          resolve(s.getPeerX509Certificate()!.subject);
          s.destroy();
        });
        s.setTimeout(2000, () => s.destroy(new Error('handshake timed out')));
        s.once('error', (e) => resolve(`failed: ${e.message}`));
      });
    };
    try {
      expect(await peer()).toBe('CN=first.example');
      const second = selfSignedCertificate(['second.example']);
      writeFileSync(`${dir}/key.pem`, second.key);
      writeFileSync(`${dir}/cert.pem`, second.cert);
      const deadline = Date.now() + 10_000;
      while ((await peer()) !== 'CN=second.example' && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(await peer()).toBe('CN=second.example');
      expect(new X509Certificate(listener.certificate()).subject).toBe('CN=second.example');
    } finally {
      await listener.close();
      await other.close();
    }
  });
});
