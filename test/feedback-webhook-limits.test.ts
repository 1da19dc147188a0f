import { createHmac, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { messageRow, sendOk } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { bounce, makeSigner, notification, placeCert, signEnvelope, TOPIC_ARN } from './helpers/sns.js';

const MAILGUN_KEY = 'key-0123456789abcdef0123456789abcdef';
const POSTMARK = { username: 'postmark', password: 'pm-password-0123456789' };
const KiB = 1024;
const signer = makeSigner();

/**
 * The public feedback routes parse nothing larger than their sender can send (Mailgun: one event,
 * 256 KiB; SNS: a 256 KiB message in its envelope, 320 KiB), answer 413 payload_too_large past it,
 * and Mailgun's signature is checked before any transaction is opened.
 */
describe.each(backends)('feedback webhook body limits on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, {
      POSTMARK_WEBHOOK_USERNAME: POSTMARK.username,
      POSTMARK_WEBHOOK_PASSWORD: POSTMARK.password,
      MAILGUN_WEBHOOK_SIGNING_KEY: MAILGUN_KEY,
      SNS_ALLOWED_TOPIC_ARNS: TOPIC_ARN,
    });
    placeCert(t.config.sns.certCacheDir, signer);
    t.services.sns.fetch = async () => new Response('not expected', { status: 404 });
  });
  afterAll(() => t.close());

  let n = 0;
  async function sentMessage() {
    const to = `lim${++n}-${backend}@example.com`;
    const [id] = await sendOk(t, { ...incidentExample(), to });
    await t.services.db
      .updateTable('email_messages')
      .set({ status: 'sent', sent_at: Date.now() })
      .where('id', '=', id!)
      .execute();
    const row = await messageRow(t, id!);
    return { id: id!, to, messageIdHeader: row.smtp_message_id! };
  }
  const post = (url: string, payload: string | Readable, headers: Record<string, string> = {}) =>
    t.inject({
      method: 'POST',
      url,
      token: null,
      headers: { 'content-type': 'application/json', ...headers },
      payload,
    });

  /** Signed as Mailgun documents: HMAC-SHA256(signing key, timestamp + token), hex. */
  function mailgunBody(eventData: Record<string, unknown>, key = MAILGUN_KEY) {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const token = randomBytes(25).toString('hex');
    const signature = createHmac('sha256', key)
      .update(timestamp + token)
      .digest('hex');
    return JSON.stringify({ signature: { timestamp, token, signature }, 'event-data': eventData });
  }
  const delivered = (m: { to: string; messageIdHeader: string }, extra: Record<string, unknown> = {}) => ({
    event: 'delivered',
    id: `lim-delivered-${n}-${randomBytes(4).toString('hex')}`,
    timestamp: Date.now() / 1000,
    recipient: m.to,
    message: { headers: { 'message-id': m.messageIdHeader.slice(1, -1) } },
    'delivery-status': { code: 250, message: 'OK' },
    ...extra,
  });

  it('Mailgun: a body over 256 KiB is a 413 payload_too_large, even signed; one under it applies', async () => {
    const m = await sentMessage();
    // A signed event whose user variables bring it just over 256 KiB.
    const big = mailgunBody(delivered(m, { 'user-variables': { pad: 'x'.repeat(256 * KiB) } }));
    const res = await post('/api/v1/feedback/mailgun', big);
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatchObject({ code: 'payload_too_large', details: { limit_bytes: 256 * KiB } });
    expect((await messageRow(t, m.id)).status).toBe('sent');

    const fits = mailgunBody(delivered(m, { 'user-variables': { pad: 'x'.repeat(200 * KiB) } }));
    const ok = await post('/api/v1/feedback/mailgun', fits);
    expect(ok.statusCode).toBe(200);
    expect((await messageRow(t, m.id)).status).toBe('delivered');
  });

  it('Mailgun: the anonymous 9.5 MB body of empty objects is refused with 413 before it is parsed', async () => {
    const hostile = `[${'{},'.repeat(3_300_000)}{}]`;
    expect(hostile.length).toBeGreaterThan(9_500_000);
    const parse = vi.spyOn(JSON, 'parse');
    const res = await post('/api/v1/feedback/mailgun', hostile);
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('payload_too_large');
    expect(parse.mock.calls.some(([text]) => typeof text === 'string' && text.length > 256 * KiB)).toBe(false);
  });

  it('Mailgun: a body sent without Content-Length (chunked) is cut at 256 KiB too', async () => {
    const chunks = Array.from({ length: 40 }, () => Buffer.alloc(16 * KiB, 0x20));
    const res = await post('/api/v1/feedback/mailgun', Readable.from(chunks));
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('payload_too_large');
  });

  it('Mailgun: a bad signature, a stale timestamp, no signature: refused without opening a transaction', async () => {
    const m = await sentMessage();
    const transaction = vi.spyOn(t.services.db, 'transaction');
    const forged = await post(
      '/api/v1/feedback/mailgun',
      mailgunBody(delivered(m), 'key-not-the-signing-key-00000000'),
    );
    expect(forged.json().error.code).toBe('webhook_bad_signature');
    const unsigned = await post('/api/v1/feedback/mailgun', JSON.stringify({ 'event-data': delivered(m) }));
    expect(unsigned.json().error.code).toBe('webhook_missing_signature');
    const junk = await post('/api/v1/feedback/mailgun', JSON.stringify([{}, {}, {}]));
    expect(junk.statusCode).toBe(401);
    expect(transaction).not.toHaveBeenCalled();
    // The spy sees the provider route's transactions: a signed body opens one (token and events).
    const body = mailgunBody(delivered(m));
    expect((await post('/api/v1/feedback/mailgun', body)).statusCode).toBe(200);
    expect(transaction).toHaveBeenCalledTimes(1);
    // Its replay is refused inside the transaction, by the token's insert.
    const replay = await post('/api/v1/feedback/mailgun', body);
    expect(replay.statusCode).toBe(403);
    expect(replay.json().error.code).toBe('webhook_replayed');
  });

  it('Postmark keeps its 10 MiB limit: a bounce carrying a 1 MiB message is applied', async () => {
    const m = await sentMessage();
    const auth = `Basic ${Buffer.from(`${POSTMARK.username}:${POSTMARK.password}`).toString('base64')}`;
    const body = JSON.stringify({
      RecordType: 'Bounce',
      ID: 77_000 + n,
      Type: 'HardBounce',
      MessageID: 'pm-limit',
      Email: m.to,
      Details: 'smtp;550 5.1.1 no such user',
      BouncedAt: new Date().toISOString(),
      Content: `Return-Path: <>\r\nMessage-ID: ${m.messageIdHeader}\r\n\r\n${'y'.repeat(1024 * KiB)}`,
    });
    const res = await post('/api/v1/feedback/postmark', body, { authorization: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ applied: 1 });
  });

  const postSns = (envelope: object | string) =>
    post('/api/v1/email/webhook', typeof envelope === 'string' ? envelope : JSON.stringify(envelope), {
      'content-type': 'text/plain; charset=UTF-8',
    });
  const sesMessage = (m: { to: string }, diagnosticBytes: number) => {
    const b = bounce({ sesMessageId: `lim-ses-${n}`, to: m.to }, 'Transient');
    b.bounce.bouncedRecipients[0]!.diagnosticCode = `smtp; 452 4.2.2 ${'z'.repeat(diagnosticBytes)}`;
    return b;
  };

  it('SNS: an envelope carrying a 250 KiB message is applied; one over 320 KiB is a 413, even signed', async () => {
    const m = await sentMessage();
    const fits = signEnvelope(notification(sesMessage(m, 250 * KiB)), signer);
    const ok = await postSns(fits);
    expect(ok.statusCode).toBe(200);
    expect(ok.json().result).toBe('processed');

    const over = signEnvelope(notification(sesMessage(m, 330 * KiB)), signer);
    const res = await postSns(over);
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatchObject({ code: 'payload_too_large', details: { limit_bytes: 320 * KiB } });
    const seen = await t.services.db
      .selectFrom('sns_messages')
      .select('message_id')
      .where('message_id', '=', over.MessageId!)
      .execute();
    expect(seen).toEqual([]);
  });
});
