import { createHmac, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { eventTypes, messageRow, sendOk } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';

const MAILGUN_KEY = 'key-0123456789abcdef0123456789abcdef';
const POSTMARK = { username: 'postmark', password: 'pm-password-0123456789' };
const BREVO_TOKEN = 'brevo-token-0123456789abcdef';
const sendgrid = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const SENDGRID_PUBLIC = sendgrid.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

/** Provider webhooks through the HTTP app: verified as each provider documents, applied once, refused whole otherwise. */
describe.each(backends)('provider webhooks on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, {
      POSTMARK_WEBHOOK_USERNAME: POSTMARK.username,
      POSTMARK_WEBHOOK_PASSWORD: POSTMARK.password,
      MAILGUN_WEBHOOK_SIGNING_KEY: MAILGUN_KEY,
      SENDGRID_WEBHOOK_PUBLIC_KEY: SENDGRID_PUBLIC,
      BREVO_WEBHOOK_TOKEN: BREVO_TOKEN,
    });
  });
  afterAll(() => t.close());

  let n = 0;
  /** A message the worker sent through the provider: status sent, the provider's id stored. */
  async function sentMessage(providerId?: string) {
    const to = `p${++n}-${backend}@example.com`;
    const [id] = await sendOk(t, { ...incidentExample(), to });
    await t.services.db
      .updateTable('email_messages')
      .set({ status: 'sent', sent_at: Date.now(), provider_message_id: providerId ?? null })
      .where('id', '=', id!)
      .execute();
    const row = await messageRow(t, id!);
    return { id: id!, to, messageIdHeader: row.smtp_message_id };
  }
  const post = (provider: string, body: unknown, headers: Record<string, string> = {}, query = '') =>
    t.inject({
      method: 'POST',
      url: `/api/v1/feedback/${provider}${query}`,
      token: null,
      headers: { 'content-type': 'application/json', ...headers },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const suppressions = async (email: string) =>
    (await t.inject({ method: 'GET', url: `/api/v1/email/suppressions?email=${encodeURIComponent(email)}` })).json()
      .items;
  const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

  it('Postmark: a hard bounce (basic credentials of the webhook URL) bounces the message, categorised, and suppresses', async () => {
    const providerId = '883953f4-6105-42a2-a16a-77a8eac79483';
    const m = await sentMessage(providerId);
    // Shape from Postmark's bounce webhook documentation.
    const body = {
      RecordType: 'Bounce',
      MessageStream: 'outbound',
      ID: 901542550 + n,
      Type: 'HardBounce',
      TypeCode: 1,
      Name: 'Hard bounce',
      MessageID: providerId,
      Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).',
      Details: 'smtp;550 5.1.1 The email account that you tried to reach does not exist.',
      Email: m.to,
      From: 'noreply@rgz.bj',
      BouncedAt: '2024-03-05T09:33:54.9070259Z',
      Inactive: true,
      CanActivate: true,
      Subject: 'Incident',
    };
    const refused = await post('postmark', body, basic(POSTMARK.username, 'wrong-password-000000'));
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error.code).toBe('webhook_bad_credentials');
    expect((await post('postmark', body)).json().error.code).toBe('webhook_missing_credentials');
    expect((await messageRow(t, m.id)).status).toBe('sent');

    const res = await post('postmark', body, basic(POSTMARK.username, POSTMARK.password));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ provider: 'postmark', events: 1, applied: 1, matched: 1, suppressed: [m.to] });
    expect(await messageRow(t, m.id)).toMatchObject({ status: 'bounced', bounce_category: 'unknown_user' });
    const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${m.id}` })).json();
    expect(msg.events.at(-1)).toMatchObject({
      type: 'bounced',
      data: { source: 'postmark', category: 'unknown_user', kind: 'hard_bounce' },
    });
    expect(await suppressions(m.to)).toEqual([expect.objectContaining({ reason: 'bounce', source: 'postmark' })]);
    // Postmark retries a webhook that timed out: applied once.
    const retry = await post('postmark', body, basic(POSTMARK.username, POSTMARK.password));
    expect(retry.json()).toMatchObject({ applied: 0, duplicates: 1 });
    expect((await eventTypes(t, m.id)).filter((e) => e === 'bounced')).toHaveLength(1);
  });

  it('Postmark: a hostile body (an address of 5,000 characters, odd types, a batch of junk) is a 200 that stores nothing bad', async () => {
    const auth = basic(POSTMARK.username, POSTMARK.password);
    const long = `${'a'.repeat(5000)}@example.com`;
    const res = await post(
      'postmark',
      [
        {
          RecordType: 'Bounce',
          ID: 'x'.repeat(3000),
          Type: 'HardBounce',
          Email: long,
          Details: '550 5.1.1 no such user',
        },
        { RecordType: 'SpamComplaint', ID: 77, Email: { not: 'a string' } },
        'junk',
        null,
      ],
      auth,
    );
    expect(res.statusCode).toBe(200);
    const stored = await t.services.db
      .selectFrom('email_suppressions')
      .select('email')
      .where('email', 'like', 'aaaa%')
      .execute();
    expect(stored).toEqual([]);
    expect((await post('postmark', '{"unterminated', auth)).statusCode).toBe(400);
  });

  function mailgunBody(
    eventData: Record<string, unknown>,
    opts: { key?: string; token?: string; timestamp?: number } = {},
  ) {
    const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
    const token = opts.token ?? randomBytes(25).toString('hex');
    const signature = createHmac('sha256', opts.key ?? MAILGUN_KEY)
      .update(timestamp + token)
      .digest('hex');
    return { signature: { timestamp, token, signature }, 'event-data': eventData };
  }

  it('Mailgun: a signed permanent failure applies once; a replayed token, a bad signature, a stale timestamp are refused', async () => {
    const m = await sentMessage();
    // Shape from Mailgun's event documentation ("failed", permanent).
    const failed = {
      event: 'failed',
      id: `G9Bn5sl1TC6nu79C8C0bwg${n}`,
      timestamp: Date.now() / 1000,
      severity: 'permanent',
      reason: 'bounce',
      recipient: m.to,
      message: { headers: { to: m.to, 'message-id': m.messageIdHeader.slice(1, -1), from: 'noreply@rgz.bj' } },
      'delivery-status': {
        'attempt-no': 1,
        message: '5.1.1 The email account does not exist',
        code: 550,
        description: '',
      },
    };
    const body = mailgunBody(failed);
    const forged = mailgunBody(failed, { key: 'key-not-the-signing-key-000000000' });
    expect((await post('mailgun', forged)).json().error.code).toBe('webhook_bad_signature');
    const stale = mailgunBody(failed, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect((await post('mailgun', stale)).json().error.code).toBe('webhook_stale_timestamp');
    expect((await post('mailgun', 'not json')).statusCode).toBe(400);
    expect((await messageRow(t, m.id)).status).toBe('sent');

    const res = await post('mailgun', body);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ provider: 'mailgun', applied: 1, matched: 1 });
    expect(await messageRow(t, m.id)).toMatchObject({ status: 'bounced', bounce_category: 'unknown_user' });
    const replay = await post('mailgun', body);
    expect(replay.statusCode).toBe(403);
    expect(replay.json().error.code).toBe('webhook_replayed');
  });

  it('Mailgun: a token is remembered only with the events it applied (a failed request can be retried)', async () => {
    const token = randomBytes(25).toString('hex');
    const rows = await t.services.db
      .selectFrom('feedback_replay_tokens')
      .select('token')
      .where('token', '=', `mailgun:${token}`)
      .execute();
    expect(rows).toEqual([]);
    const m = await sentMessage();
    const delivered = {
      event: 'delivered',
      id: `delivered-${n}`,
      timestamp: Date.now() / 1000,
      recipient: m.to,
      message: { headers: { 'message-id': m.messageIdHeader.slice(1, -1) } },
      'delivery-status': { code: 250, message: 'OK' },
    };
    expect((await post('mailgun', mailgunBody(delivered, { token }))).statusCode).toBe(200);
    expect((await messageRow(t, m.id)).status).toBe('delivered');
    const after = await t.services.db
      .selectFrom('feedback_replay_tokens')
      .select('token')
      .where('token', '=', `mailgun:${token}`)
      .execute();
    expect(after).toHaveLength(1);
  });

  function sendgridHeaders(body: string, timestamp = String(Math.floor(Date.now() / 1000))) {
    const signature = sign('sha256', Buffer.from(timestamp + body), {
      key: sendgrid.privateKey,
      dsaEncoding: 'der',
    }).toString('base64');
    return {
      'x-twilio-email-event-webhook-signature': signature,
      'x-twilio-email-event-webhook-timestamp': timestamp,
    };
  }

  it('SendGrid: a signed batch applies each event (delivered, then a bounce); altered bytes are refused', async () => {
    const a = await sentMessage();
    const b = await sentMessage();
    const at = Math.floor(Date.now() / 1000);
    // A batch as in SendGrid's Event Webhook reference: processed, delivered, bounce, open.
    const batch = JSON.stringify([
      {
        email: a.to,
        timestamp: at,
        'smtp-id': a.messageIdHeader,
        event: 'processed',
        sg_event_id: `p-${n}`,
        sg_message_id: 'x.filter0001',
      },
      {
        email: a.to,
        timestamp: at,
        'smtp-id': a.messageIdHeader,
        event: 'delivered',
        response: '250 OK',
        sg_event_id: `d-${n}`,
        sg_message_id: 'x.filter0001',
      },
      {
        email: b.to,
        timestamp: at,
        'smtp-id': b.messageIdHeader,
        event: 'bounce',
        type: 'bounce',
        bounce_classification: 'Invalid Address',
        reason: '550 5.1.1 unknown recipient',
        status: '5.1.1',
        sg_event_id: `b-${n}`,
        sg_message_id: 'y.filter0001',
      },
      {
        email: a.to,
        timestamp: at,
        event: 'open',
        sg_event_id: `o-${n}`,
        sg_message_id: 'x.filter0001',
        useragent: 'Mozilla',
      },
    ]);
    const headers = sendgridHeaders(batch);
    const altered = await post('sendgrid', batch.replace('Invalid Address', 'Invalid Addresz'), headers);
    expect(altered.statusCode).toBe(403);
    expect(altered.json().error.code).toBe('webhook_bad_signature');
    expect((await post('sendgrid', batch)).json().error.code).toBe('webhook_missing_signature');

    const res = await post('sendgrid', batch, headers);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ provider: 'sendgrid', events: 4, applied: 2 });
    expect((await messageRow(t, a.id)).status).toBe('delivered');
    expect(await messageRow(t, b.id)).toMatchObject({ status: 'bounced', bounce_category: 'unknown_user' });
  });

  it('Brevo: a hard bounce with the bearer token applies; another token is refused', async () => {
    const m = await sentMessage();
    // Shape from Brevo's transactional webhook documentation.
    const body = {
      event: 'hard_bounce',
      email: m.to,
      id: 123456,
      date: '2024-03-05 10:00:00',
      ts: Math.floor(Date.now() / 1000),
      'message-id': m.messageIdHeader,
      ts_event: Math.floor(Date.now() / 1000),
      subject: 'Incident',
      reason: 'RecipientError: 550 5.1.1 Requested action not taken: mailbox unavailable.',
      ts_epoch: Date.now(),
    };
    const refused = await post('brevo', body, { authorization: 'Bearer brevo-token-not-the-right-one' });
    expect(refused.statusCode).toBe(401);
    expect((await messageRow(t, m.id)).status).toBe('sent');
    const res = await post('brevo', body, { authorization: `Bearer ${BREVO_TOKEN}` });
    expect(res.json()).toMatchObject({ provider: 'brevo', applied: 1, matched: 1 });
    expect(await messageRow(t, m.id)).toMatchObject({ status: 'bounced', bounce_category: 'unknown_user' });
    expect(await suppressions(m.to)).toEqual([expect.objectContaining({ source: 'brevo' })]);
  });

  it('a provider that is not known is a 400, and the routes need no bearer token', async () => {
    const res = await post('acme', {});
    expect(res.statusCode).toBe(400);
  });
});

describe('provider webhooks without configuration', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext('sqlite');
  });
  afterAll(() => t.close());

  it('answer 404 for every provider', async () => {
    for (const p of ['postmark', 'mailgun', 'sendgrid', 'brevo']) {
      const res = await t.inject({
        method: 'POST',
        url: `/api/v1/feedback/${p}`,
        token: null,
        payload: '{}',
        headers: { 'content-type': 'application/json' },
      });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('feedback_provider_not_configured');
    }
  });
});
