import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FeedbackProcessor,
  encodeVerpAddress,
  startInboundListener,
  verpKey,
  type InboundListener,
} from '../src/feedback/index.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { eventData, eventTypes, messageRow, sendOk } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { arf, dsn, sendReport } from './helpers/reports.js';

const DOMAIN = 'bounces.rgz.bj';

/**
 * Anyone on the network may mail the inbound listener (it has no AUTH: relays and mailbox
 * providers must reach it). These tests send what an attacker would, over real SMTP, and check that
 * a report suppresses (or counts against) only an address its matched message was sent to.
 */
describe.each(backends)('forged reports by mail on %s', (backend) => {
  let t: TestContext;
  let listener: InboundListener;
  let processor: FeedbackProcessor;

  beforeAll(async () => {
    t = await createTestContext(backend, { BOUNCE_DOMAIN: DOMAIN, SOFT_BOUNCE_LIMIT: '2', SOFT_BOUNCE_DAYS: '7' });
    listener = await startInboundListener({
      db: t.services.db,
      config: t.config,
      log: t.services.log,
      port: 0,
      host: '127.0.0.1',
    });
    processor = new FeedbackProcessor(t.services, { owner: 'fbmail-forged' });
  });
  afterAll(async () => {
    await listener?.close();
    await t?.close();
  });

  let n = 0;
  /** A message marked sent, with its signed return path (what its recipient sees as Return-Path). */
  async function sentMessage(payload: object = {}) {
    const to = (payload as { to?: string }).to ?? `user${++n}-${backend}@example.com`;
    const [id] = await sendOk(t, { ...incidentExample(), to, ...payload });
    await t.services.db.updateTable('email_messages').set({ status: 'sent' }).where('id', '=', id!).execute();
    const row = await messageRow(t, id!);
    return { id: id!, to, returnPath: encodeVerpAddress(id!, verpKey(t.config), DOMAIN), header: row.smtp_message_id! };
  }
  const suppressions = async (email: string) =>
    (await t.inject({ method: 'GET', url: `/api/v1/email/suppressions?email=${encodeURIComponent(email)}` })).json()
      .items;
  const reportOf = async (response: string) => {
    const id = /report ([0-9a-f-]{36})/.exec(response)![1]!;
    return t.services.db.selectFrom('feedback_reports').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  };

  it('a bounce about no message of ours, mailed to postmaster@, suppresses nobody', async () => {
    const victim = `victim-dsn-${backend}@example.com`;
    const res = await sendReport(
      listener.port,
      { from: '', to: [`postmaster@${DOMAIN}`] },
      dsn({ to: `postmaster@${DOMAIN}`, recipient: victim, messageId: '<made-up@example.org>' }),
    );
    await processor.drain();
    expect(await reportOf(res.response)).toMatchObject({
      state: 'classified',
      kind: 'hard_bounce',
      category: 'unknown_user',
      recipient: victim,
      match_method: 'none',
      suppressed: null,
    });
    expect(await suppressions(victim)).toEqual([]);
  });

  it('a plain-text bounce from a "MAILER-DAEMON" about no message of ours suppresses nobody', async () => {
    const victim = `victim-plain-${backend}@example.com`;
    const raw = [
      'From: MAILER-DAEMON@attacker.example (Mail Delivery System)',
      `To: abuse@${DOMAIN}`,
      'Subject: Mail delivery failed: returning message to sender',
      '',
      'This message was created automatically by mail delivery software.',
      '',
      'A message that you sent could not be delivered to one or more of its',
      'recipients. This is a permanent error. The following address(es) failed:',
      '',
      `  ${victim}`,
      `    SMTP error from remote mail server after RCPT TO:<${victim}>:`,
      '    550 5.1.1 User unknown',
      '',
    ].join('\r\n');
    const res = await sendReport(listener.port, { from: '', to: [`abuse@${DOMAIN}`] }, raw);
    await processor.drain();
    expect(await reportOf(res.response)).toMatchObject({
      kind: 'hard_bounce',
      recipient: victim,
      match_method: 'none',
    });
    expect(await suppressions(victim)).toEqual([]);
  });

  it('a complaint about an address never sent to suppresses nobody', async () => {
    const victim = `victim-arf-${backend}@example.com`;
    const res = await sendReport(
      listener.port,
      { from: 'fbl@attacker.example', to: [`abuse@${DOMAIN}`] },
      arf({ to: `abuse@${DOMAIN}`, recipient: victim, messageId: '<made-up-2@example.org>' }),
    );
    await processor.drain();
    expect(await reportOf(res.response)).toMatchObject({ kind: 'complaint', recipient: victim, match_method: 'none' });
    expect(await suppressions(victim)).toEqual([]);
  });

  it('a recipient who knows its own return path can bounce its own address, never others named in the report', async () => {
    const m = await sentMessage();
    // The Return-Path and Message-ID of a message are in the recipient's own copy: a recipient
    // writes a DSN to that return path naming thousands of other addresses as well as its own.
    const others = Array.from({ length: 2000 }, (_, i) => `other${i}-${backend}@example.com`);
    const named = [...others.slice(0, 50), m.to, ...others.slice(50)];
    const fields = named
      .map((r) => `\r\nFinal-Recipient: rfc822; ${r}\r\nAction: failed\r\nStatus: 5.1.1\r\n`)
      .join('');
    const raw = [
      'From: MAILER-DAEMON@mx.example.net',
      `To: ${m.returnPath}`,
      'Subject: Undelivered Mail Returned to Sender',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
      '',
      '--B',
      'Content-Type: message/delivery-status',
      '',
      `Reporting-MTA: dns; mx.example.net\r\n${fields}`,
      '--B--',
      '',
    ].join('\r\n');
    const res = await sendReport(listener.port, { from: '', to: [m.returnPath] }, raw);
    await processor.drain();
    const report = await reportOf(res.response);
    expect(report).toMatchObject({ state: 'classified', kind: 'hard_bounce', message_id: m.id, match_method: 'verp' });
    // The classifier reads the first 100 recipients: the message's own is suppressed, no other.
    expect(JSON.parse(report.suppressed!)).toEqual([m.to]);
    expect(await suppressions(m.to)).toEqual([expect.objectContaining({ reason: 'bounce', message_id: m.id })]);
    for (const other of others.slice(0, 100)) expect(await suppressions(other)).toEqual([]);
  });

  it('a complaint through a known Message-ID naming another address suppresses nobody; naming the recipient, the recipient', async () => {
    const m = await sentMessage();
    const victim = `victim-arf2-${backend}@example.com`;
    await sendReport(
      listener.port,
      { from: 'fbl@attacker.example', to: [`abuse@${DOMAIN}`] },
      arf({ to: `abuse@${DOMAIN}`, recipient: victim, messageId: m.header }),
    );
    await processor.drain();
    expect(await suppressions(victim)).toEqual([]);
    // The message's event (what webhooks carry) names its recipient; the forged address stays apart.
    expect(await eventData(t, m.id, 'complaint')).toEqual([
      expect.objectContaining({ recipient: m.to, reported_recipient: victim }),
    ]);
    await sendReport(
      listener.port,
      { from: 'fbl@example.net', to: [`abuse@${DOMAIN}`] },
      arf({ to: `abuse@${DOMAIN}`, recipient: m.to, messageId: m.header }),
    );
    await processor.drain();
    expect(await suppressions(m.to)).toEqual([expect.objectContaining({ reason: 'complaint', message_id: m.id })]);
  });

  it('a bounce naming the recipient in punycode is about the recipient sent to in Unicode', async () => {
    // Relays spell an internationalized domain in ASCII: u@bücher.de bounces as u@xn--bcher-kva.de.
    const m = await sentMessage({ to: `idn-${backend}@bücher.de` });
    await sendReport(
      listener.port,
      { from: '', to: [m.returnPath] },
      dsn({ to: m.returnPath, recipient: `idn-${backend}@xn--bcher-kva.de`, messageId: m.header }),
    );
    await processor.drain();
    expect(await suppressions(m.to)).toEqual([expect.objectContaining({ reason: 'bounce', message_id: m.id })]);
    expect((await messageRow(t, m.id)).status).toBe('bounced');
  });

  it('forged soft bounces of an address are not counted towards suppressing it', async () => {
    const victim = `victim-soft-${backend}@example.com`;
    // SOFT_BOUNCE_LIMIT is 2: two forged final soft bounces about messages we never sent...
    for (let i = 0; i < 2; i++)
      await sendReport(
        listener.port,
        { from: '', to: [`postmaster@${DOMAIN}`] },
        dsn({
          to: `postmaster@${DOMAIN}`,
          recipient: victim,
          messageId: `<forged-${i}@example.org>`,
          status: '4.2.2',
          diagnostic: 'smtp; 452 4.2.2 Mailbox full',
        }),
      );
    await processor.drain();
    expect(await suppressions(victim)).toEqual([]);
    // ...then one real one: one bounce, under the limit.
    const m = await sentMessage({ to: victim });
    await sendReport(
      listener.port,
      { from: '', to: [m.returnPath] },
      dsn({
        to: m.returnPath,
        recipient: victim,
        messageId: m.header,
        status: '4.2.2',
        diagnostic: 'smtp; 452 4.2.2 Mailbox full',
      }),
    );
    await processor.drain();
    expect((await messageRow(t, m.id)).status).toBe('bounced');
    expect(await suppressions(victim)).toEqual([]);
  });

  it('the same bounce in other bytes (by SMTP, then through a mailbox that added headers) is applied once', async () => {
    const to = `twice-${backend}@example.com`;
    const m = await sentMessage({ to });
    const bounce = dsn({
      to: m.returnPath,
      recipient: to,
      messageId: m.header,
      status: '4.2.2',
      diagnostic: 'smtp; 452 4.2.2 Mailbox full',
    });
    const first = await sendReport(listener.port, { from: '', to: [m.returnPath] }, bounce);
    const again = await sendReport(
      listener.port,
      { from: '', to: [m.returnPath] },
      `Delivered-To: ${m.returnPath}\r\nReturn-Path: <>\r\n${bounce}`,
    );
    await processor.drain();
    expect((await reportOf(again.response)).id).not.toBe((await reportOf(first.response)).id);
    expect((await eventTypes(t, m.id)).filter((e) => e === 'bounced')).toHaveLength(1);
    const counted = await t.services.db
      .selectFrom('feedback_events')
      .select('id')
      .where('recipient', '=', to)
      .execute();
    expect(counted).toHaveLength(1);
    // SOFT_BOUNCE_LIMIT is 2: one bounce of one message, not two.
    expect(await suppressions(to)).toEqual([]);
  });
});
