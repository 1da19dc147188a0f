import { createHmac, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { messageRow, sendOk } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { bounce, delivery, makeSigner, notification, placeCert, signEnvelope, TOPIC_ARN } from './helpers/sns.js';

const MAILGUN_KEY = 'key-0123456789abcdef0123456789abcdef';
const POSTMARK = { username: 'postmark', password: 'pm-password-0123456789' };
const BREVO_TOKEN = 'brevo-token-0123456789abcdef';
const sendgrid = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const SENDGRID_PUBLIC = sendgrid.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const signer = makeSigner();
const NUL = '\u0000';

/**
 * Values a signed (or credentialed) provider may still send that the database cannot take: a NUL
 * in a string (PostgreSQL text cannot hold one; the JSON API refuses them, these bodies were not
 * filtered) and times such as 1e300 (PostgreSQL's bigint refuses them; stored on SQLite, they
 * failed every later read of the message). Each is stored safely (NUL as U+FFFD, an impossible
 * time as the time received), never a 500. On PostgreSQL when TEST_DATABASE_URL is set.
 */
describe.each(backends)('hostile values in signed feedback on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, {
      POSTMARK_WEBHOOK_USERNAME: POSTMARK.username,
      POSTMARK_WEBHOOK_PASSWORD: POSTMARK.password,
      MAILGUN_WEBHOOK_SIGNING_KEY: MAILGUN_KEY,
      SENDGRID_WEBHOOK_PUBLIC_KEY: SENDGRID_PUBLIC,
      BREVO_WEBHOOK_TOKEN: BREVO_TOKEN,
      SNS_ALLOWED_TOPIC_ARNS: TOPIC_ARN,
    });
    placeCert(t.config.sns.certCacheDir, signer);
    t.services.sns.fetch = async () => new Response('not expected', { status: 404 });
  });
  afterAll(() => t.close());

  let n = 0;
  /** A message the worker sent through the provider: status sent, the provider's id stored. */
  async function sentMessage() {
    const to = `hv${++n}-${backend}@example.com`;
    const providerId = `hv-provider-${backend}-${n}-${randomBytes(4).toString('hex')}`;
    const [id] = await sendOk(t, { ...incidentExample(), to });
    await t.services.db
      .updateTable('email_messages')
      .set({ status: 'sent', sent_at: Date.now(), provider_message_id: providerId })
      .where('id', '=', id!)
      .execute();
    const row = await messageRow(t, id!);
    return { id: id!, to, providerId, messageIdHeader: row.smtp_message_id! };
  }
  const post = (provider: string, body: string, headers: Record<string, string> = {}) =>
    t.inject({
      method: 'POST',
      url: `/api/v1/feedback/${provider}`,
      token: null,
      headers: { 'content-type': 'application/json', ...headers },
      payload: body,
    });
  const postSns = (envelope: object) =>
    t.inject({
      method: 'POST',
      url: '/api/v1/email/webhook',
      token: null,
      headers: { 'content-type': 'text/plain; charset=UTF-8' },
      payload: JSON.stringify(envelope),
    });

  /** The message as the API shows it: a value stored that cannot be read back would fail here. */
  async function shown(id: string) {
    const res = await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('\\u0000');
    return res.json();
  }
  async function feedbackTimes(id: string) {
    const rows = await t.services.db.selectFrom('feedback_events').select('at').where('message_id', '=', id).execute();
    return rows.map((r) => Number(r.at));
  }
  const around = (before: number) => ({ asymmetricMatch: (v: number) => v >= before && v <= Date.now() + 1000 });

  it('Postmark: a NUL in the details, in another field and in a key is stored as U+FFFD', async () => {
    const m = await sentMessage();
    const body = JSON.stringify({
      RecordType: 'Bounce',
      ID: 900_000 + n,
      Type: 'HardBounce',
      MessageID: m.providerId,
      Email: m.to,
      Details: `smtp;550 5.1.1 no${NUL}such user`,
      Description: `bad${NUL}`,
      [`Tag${NUL}`]: `x${NUL}`,
      BouncedAt: new Date().toISOString(),
    });
    expect(body).toContain('\\u0000');
    const auth = `Basic ${Buffer.from(`${POSTMARK.username}:${POSTMARK.password}`).toString('base64')}`;
    const res = await post('postmark', body, { authorization: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ applied: 1, matched: 1 });
    expect((await messageRow(t, m.id)).error_message).toBe('smtp;550 5.1.1 no\uFFFDsuch user');
    expect((await shown(m.id)).status).toBe('bounced');
  });

  it('Postmark and SES: an unpaired surrogate (a \\ud800 escape) is stored as U+FFFD, well-formed', async () => {
    const m = await sentMessage();
    const body = JSON.stringify({
      RecordType: 'Bounce',
      ID: 910_000 + n,
      Type: 'HardBounce',
      MessageID: m.providerId,
      Email: m.to,
      Details: 'smtp;550 5.1.1 no such user \ud800',
      BouncedAt: new Date().toISOString(),
    });
    expect(body).toContain('\\ud800');
    const auth = `Basic ${Buffer.from(`${POSTMARK.username}:${POSTMARK.password}`).toString('base64')}`;
    expect((await post('postmark', body, { authorization: auth })).statusCode).toBe(200);
    expect((await messageRow(t, m.id)).error_message).toBe('smtp;550 5.1.1 no such user \uFFFD');

    const s = await sentMessage();
    const b = bounce({ sesMessageId: s.providerId, to: s.to }, 'Transient', 'MailboxFull');
    b.bounce.bouncedRecipients[0]!.diagnosticCode = 'smtp; 452 4.2.2 full \udc00';
    const res = await postSns(signEnvelope(notification(b), signer));
    expect(res.statusCode).toBe(200);
    expect((await messageRow(t, s.id)).error_message).toBe('smtp; 452 4.2.2 full \uFFFD');
  });

  function mailgunBody(eventData: Record<string, unknown>) {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const token = randomBytes(25).toString('hex');
    const signature = createHmac('sha256', MAILGUN_KEY)
      .update(timestamp + token)
      .digest('hex');
    return JSON.stringify({ signature: { timestamp, token, signature }, 'event-data': eventData });
  }

  it('Mailgun: a delivery at timestamp 1e300 is a delivery at the time received; a NUL in its reply is U+FFFD', async () => {
    const m = await sentMessage();
    const before = Date.now();
    const body = mailgunBody({
      event: 'delivered',
      id: `hv-mg-${n}`,
      timestamp: 1e300,
      recipient: m.to,
      message: { headers: { 'message-id': m.messageIdHeader.slice(1, -1) } },
      'delivery-status': { code: 250, message: `250 2.0.0 OK${NUL}` },
    });
    const res = await post('mailgun', body);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ applied: 1, matched: 1 });
    const row = await messageRow(t, m.id);
    expect(row.status).toBe('delivered');
    expect(Number(row.delivered_at)).toEqual(around(before));
    expect(await feedbackTimes(m.id)).toEqual([around(before)]);
    expect((await shown(m.id)).delivered_at).toBe(new Date(Number(row.delivered_at)).toISOString());
  });

  it('SendGrid: a bounce with a NUL in its reason and timestamps of 1e300, -1 and year 275760 in a batch', async () => {
    const a = await sentMessage();
    const b = await sentMessage();
    const before = Date.now();
    const event = (m: typeof a, timestamp: number, id: string) => ({
      email: m.to,
      timestamp,
      event: 'bounce',
      type: 'bounce',
      reason: `550 5.1.1 unknown${NUL} recipient`,
      status: '5.1.1',
      sg_event_id: `hv-sg-${id}-${n}`,
      sg_message_id: `${m.providerId}.filter0001`,
    });
    const batch = JSON.stringify([event(a, 1e300, 'a'), event(b, -1, 'b'), event(a, 8.64e12, 'c')]);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = sign('sha256', Buffer.from(timestamp + batch), {
      key: sendgrid.privateKey,
      dsaEncoding: 'der',
    }).toString('base64');
    const res = await post('sendgrid', batch, {
      'x-twilio-email-event-webhook-signature': signature,
      'x-twilio-email-event-webhook-timestamp': timestamp,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ events: 3, applied: 3 });
    for (const m of [a, b]) {
      expect((await shown(m.id)).status).toBe('bounced');
      for (const at of await feedbackTimes(m.id)) expect(at).toEqual(around(before));
    }
    expect((await messageRow(t, a.id)).error_message).toBe('550 5.1.1 unknown\uFFFD recipient');
  });

  it('Brevo: a hard bounce at ts_epoch 1e300 with a NUL in its reason', async () => {
    const m = await sentMessage();
    const before = Date.now();
    const body = JSON.stringify({
      event: 'hard_bounce',
      email: m.to,
      id: 123456,
      'message-id': m.messageIdHeader,
      ts_epoch: 1e300,
      ts_event: 1e300,
      reason: `550 5.1.1 mailbox${NUL} unavailable`,
    });
    const res = await post('brevo', body, { authorization: `Bearer ${BREVO_TOKEN}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ applied: 1, matched: 1 });
    expect((await shown(m.id)).status).toBe('bounced');
    expect(await feedbackTimes(m.id)).toEqual([around(before)]);
  });

  it('SES through SNS: a NUL in a bounce diagnostic; a delivery dated in the year 275760', async () => {
    const m = await sentMessage();
    const ref = { sesMessageId: m.providerId, to: m.to };
    const b = bounce(ref, 'Transient', 'MailboxFull');
    b.bounce.bouncedRecipients[0]!.diagnosticCode = `smtp; 452 4.2.2 mailbox${NUL} full`;
    const res = await postSns(signEnvelope(notification(b), signer));
    expect(res.statusCode).toBe(200);
    expect(res.json().result).toBe('processed');
    expect((await messageRow(t, m.id)).error_message).toBe('smtp; 452 4.2.2 mailbox\uFFFD full');
    expect((await shown(m.id)).status).toBe('bounced');

    const d = await sentMessage();
    const before = Date.now();
    const late = delivery({ sesMessageId: d.providerId, to: d.to });
    late.delivery.timestamp = '+275760-09-13T00:00:00.000Z';
    const ok = await postSns(signEnvelope(notification(late), signer));
    expect(ok.statusCode).toBe(200);
    expect(Number((await messageRow(t, d.id)).delivered_at)).toEqual(around(before));
    expect((await shown(d.id)).status).toBe('delivered');
  });

  it('SES through SNS: a MessageId holding a NUL, or of 10,000 characters, is a 400 (an id is stored)', async () => {
    for (const id of [`${randomUUID()}${NUL}`, 'm'.repeat(10_000)]) {
      const envelope = signEnvelope(
        notification(bounce({ sesMessageId: 'x', to: 'x@example.com' }), { messageId: id }),
        signer,
      );
      const res = await postSns(envelope);
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('invalid_request');
    }
  });
});
