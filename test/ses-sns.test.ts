import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';
import {
  asEventPublishing,
  bounce,
  CERT_FILE,
  complaint,
  delivery,
  makeSigner,
  notification,
  placeCert,
  REGION_HOST,
  signEnvelope,
  subscriptionConfirmation,
  TOPIC_ARN,
} from './helpers/sns.js';

const signer = makeSigner();
const UNCACHED_CERT_FILE = 'SimpleNotificationService-00000000000000000000000000000001.pem';
const impostor = makeSigner();

describe.each(backends)('SES notifications through SNS on %s', (backend) => {
  let t: TestContext;
  const fetched: string[] = [];
  beforeAll(async () => {
    t = await createTestContext(backend, { SNS_ALLOWED_TOPIC_ARNS: TOPIC_ARN });
    placeCert(t.config.sns.certCacheDir, signer);
    // Amazon, the only thing faked: records what Postier fetches from it.
    t.services.sns.fetch = async (url) => {
      fetched.push(url);
      if (url === `https://${REGION_HOST}/${UNCACHED_CERT_FILE}`) return new Response(signer.certPem);
      return new Response('<ConfirmSubscriptionResponse/>', { status: 200 });
    };
  });
  afterAll(() => t.close());

  const post = (envelope: object) =>
    t.inject({
      method: 'POST',
      url: '/api/v1/email/webhook',
      token: null,
      headers: {
        'content-type': 'text/plain; charset=UTF-8',
        'x-amz-sns-message-type': (envelope as { Type: string }).Type,
      },
      payload: JSON.stringify(envelope),
    });

  let n = 0;
  /** A message the worker has sent through SES: status sent, SES's id stored. */
  async function sentMessage(to = `user${++n}@example.com`) {
    const res = await t.inject({ method: 'POST', url: '/api/v1/email/send', payload: { ...incidentExample(), to } });
    const id = res.json().items[0].id as string;
    const sesMessageId = `0000014644fe5ef6-9a483358-9170-4cb4-a269-${String(n).padStart(12, '0')}-000000`;
    await t.services.db
      .updateTable('email_messages')
      .set({ status: 'sent', sent_at: Date.now(), provider_message_id: sesMessageId })
      .where('id', '=', id)
      .execute();
    return { id, to, sesMessageId };
  }
  const message = async (id: string) => (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json();
  const suppressions = async (email: string) =>
    (await t.inject({ method: 'GET', url: `/api/v1/email/suppressions?email=${encodeURIComponent(email)}` })).json()
      .items;

  it('marks a permanent bounce (signature version 1), records the diagnostic and suppresses the address', async () => {
    const m = await sentMessage();
    const res = await post(signEnvelope(notification(bounce(m)), signer, '1'));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      result: 'processed',
      applied: { kind: 'Bounce', messageId: m.id, statusChanged: true, suppressed: [m.to] },
    });
    const msg = await message(m.id);
    expect(msg).toMatchObject({
      status: 'bounced',
      bounce_type: 'Permanent',
      bounce_subtype: 'General',
      error_message: `smtp; 550 5.1.1 <${m.to}>... User`,
    });
    expect(msg.events.map((e: { type: string }) => e.type)).toEqual(['queued', 'bounced']);
    expect(await suppressions(m.to)).toEqual([
      expect.objectContaining({ email: m.to, scope: 'all', reason: 'bounce', source: 'ses', message_id: m.id }),
    ]);

    const again = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { ...incidentExample(), to: m.to },
    });
    expect(again.json().items[0].status).toBe('suppressed');
  });

  it('records a transient bounce (signature version 2) without suppressing the address', async () => {
    const m = await sentMessage();
    const res = await post(signEnvelope(notification(bounce(m, 'Transient', 'MailboxFull')), signer, '2'));
    expect(res.statusCode).toBe(200);
    expect(await message(m.id)).toMatchObject({
      status: 'bounced',
      bounce_type: 'Transient',
      bounce_subtype: 'MailboxFull',
    });
    expect(await suppressions(m.to)).toEqual([]);
  });

  it('records a complaint and suppresses the address for the class of mail it complained about', async () => {
    const m = await sentMessage();
    expect((await post(signEnvelope(notification(complaint(m)), signer))).statusCode).toBe(200);
    const msg = await message(m.id);
    expect(msg.status).toBe('complaint');
    expect(msg.events.at(-1)).toMatchObject({ type: 'complaint', data: { feedback_type: 'abuse' } });
    // The incident template is transactional mail: that is what the recipient complained about.
    expect(await suppressions(m.to)).toEqual([
      expect.objectContaining({ reason: 'complaint', scope: 'transactional' }),
    ]);
  });

  it('marks a delivery with its time; a later bounce wins; a delivery after the bounce does not undo it', async () => {
    const m = await sentMessage();
    await post(signEnvelope(notification(delivery(m), { subject: 'Amazon SES Email Event Notification' }), signer));
    expect(await message(m.id)).toMatchObject({ status: 'delivered', delivered_at: '2016-01-27T14:59:38.237Z' });
    await post(signEnvelope(notification(bounce(m)), signer));
    expect((await message(m.id)).status).toBe('bounced');
    const late = await post(signEnvelope(notification(delivery(m)), signer));
    expect(late.json().applied.statusChanged).toBe(false);
    const msg = await message(m.id);
    expect(msg.status).toBe('bounced');
    expect(msg.events.map((e: { type: string }) => e.type)).toEqual(['queued', 'delivered', 'bounced', 'delivered']);
    expect(msg.events.at(-1).data.status_unchanged).toBe('bounced');
  });

  it('a complaint after a bounce wins, and a bounce never replaces a complaint', async () => {
    const m = await sentMessage();
    await post(signEnvelope(notification(complaint(m)), signer));
    await post(signEnvelope(notification(bounce(m, 'Transient')), signer));
    expect((await message(m.id)).status).toBe('complaint');
  });

  it('falls back to our Message-ID when SES’s id was not stored, and reads event publishing records', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { ...incidentExample(), to: 'fallback@example.com' },
    });
    const id = res.json().items[0].id;
    const { smtp_message_id } = await message(id);
    await t.services.db.updateTable('email_messages').set({ status: 'sent' }).where('id', '=', id).execute();
    const ref = {
      sesMessageId: '010001-unknown-to-postier',
      to: 'fallback@example.com',
      messageIdHeader: smtp_message_id.slice(1, -1),
    };
    const out = await post(signEnvelope(notification(asEventPublishing(delivery(ref))), signer));
    expect(out.json().applied).toMatchObject({ kind: 'Delivery', messageId: id });
    expect((await message(id)).status).toBe('delivered');
  });

  it('applies one SNS MessageId once', async () => {
    const m = await sentMessage();
    const envelope = signEnvelope(notification(bounce(m, 'Transient')), signer);
    expect((await post(envelope)).json().result).toBe('processed');
    const replay = await post(envelope);
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toEqual({ result: 'duplicate', message_id: envelope.MessageId });
    expect((await message(m.id)).events.filter((e: { type: string }) => e.type === 'bounced')).toHaveLength(1);
  });

  describe('refuses with 403 and changes nothing', () => {
    async function expectRefused(envelope: object, code: string, m: { id: string; to: string }) {
      const before = fetched.length;
      const res = await post(envelope);
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe(code);
      expect((await message(m.id)).status).toBe('sent');
      expect(await suppressions(m.to)).toEqual([]);
      const seen = await t.services.db
        .selectFrom('sns_messages')
        .select('message_id')
        .where('message_id', '=', (envelope as { MessageId: string }).MessageId)
        .execute();
      expect(seen).toEqual([]);
      expect(fetched.length).toBe(before);
    }

    it('a message altered after signing', async () => {
      const m = await sentMessage();
      const signed = signEnvelope(notification(delivery(m)), signer);
      await expectRefused({ ...signed, Message: JSON.stringify(bounce(m)) }, 'sns_signature_invalid', m);
    });

    it('a message signed with another key than the cached certificate', async () => {
      const m = await sentMessage();
      await expectRefused(signEnvelope(notification(bounce(m)), impostor), 'sns_signature_invalid', m);
    });

    it('a Subject added that was not signed', async () => {
      const m = await sentMessage();
      await expectRefused(
        { ...signEnvelope(notification(bounce(m)), signer), Subject: 'x' },
        'sns_signature_invalid',
        m,
      );
    });

    it('an unknown SignatureVersion', async () => {
      const m = await sentMessage();
      await expectRefused(
        { ...signEnvelope(notification(bounce(m)), signer), SignatureVersion: '3' },
        'sns_signature_invalid',
        m,
      );
    });

    it.each([
      ['a look-alike host', `https://${REGION_HOST}.evil.example/${CERT_FILE}`],
      ['another host', `https://evil.example/${CERT_FILE}`],
      ['plain http', `http://${REGION_HOST}/${CERT_FILE}`],
      ['a non-default port', `https://${REGION_HOST}:8443/${CERT_FILE}`],
      ['credentials in the URL', `https://user@${REGION_HOST}/${CERT_FILE}`],
      ['a path not ending in .pem', `https://${REGION_HOST}/${CERT_FILE}.txt`],
      ['a path that climbs out', `https://${REGION_HOST}/../../etc/passwd.pem`],
      ['another file on the SNS host', `https://${REGION_HOST}/some/other.pem`],
      ['a lookalike amazonaws domain', `https://sns.eu-west-1.amazonaws.com-evil.example/${CERT_FILE}`],
    ])('a certificate URL with %s', async (_what, certUrl) => {
      const m = await sentMessage();
      await expectRefused(signEnvelope(notification(bounce(m), { certUrl }), signer), 'sns_certificate_untrusted', m);
    });

    it('a validly signed message older than the dedupe window (a replay whose id may be forgotten)', async () => {
      const m = await sentMessage();
      const old = { ...notification(bounce(m)), Timestamp: new Date(Date.now() - 6.5 * 86_400_000).toISOString() };
      await expectRefused(signEnvelope(old, signer), 'sns_message_expired', m);
    });

    it('a topic not in SNS_ALLOWED_TOPIC_ARNS', async () => {
      const m = await sentMessage();
      await expectRefused(
        signEnvelope(notification(bounce(m), { topicArn: 'arn:aws:sns:eu-west-1:999999999999:other' }), signer),
        'sns_topic_not_allowed',
        m,
      );
    });
  });

  it('fetches a certificate that is not cached, only from the validated URL, and keeps it on disk', async () => {
    const m = await sentMessage();
    // On the topic's own region's host (any other is refused), a file not placed in the cache.
    const certUrl = `https://${REGION_HOST}/${UNCACHED_CERT_FILE}`;
    const res = await post(signEnvelope(notification(delivery(m), { certUrl }), signer));
    expect(res.statusCode).toBe(200);
    expect(fetched.filter((u) => u === certUrl)).toHaveLength(1);
    const file = path.join(t.config.sns.certCacheDir, REGION_HOST, UNCACHED_CERT_FILE);
    expect(readFileSync(file, 'utf8')).toBe(signer.certPem);
    await post(signEnvelope(notification(delivery(await sentMessage()), { certUrl }), signer));
    expect(fetched.filter((u) => u === certUrl)).toHaveLength(1);
  });

  it('confirms a subscription by fetching its SubscribeURL', async () => {
    const envelope = signEnvelope(subscriptionConfirmation(), signer);
    const res = await post(envelope);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ result: 'confirmed', message_id: envelope.MessageId });
    expect(fetched.at(-1)).toBe(envelope.SubscribeURL);
  });

  it('refuses a subscription whose SubscribeURL is not Amazon’s, without fetching it', async () => {
    const before = fetched.length;
    const envelope = signEnvelope(
      subscriptionConfirmation({ subscribeUrl: 'https://attacker.example/?Action=ConfirmSubscription' }),
      signer,
    );
    const res = await post(envelope);
    expect(res.statusCode).toBe(403);
    expect(fetched.length).toBe(before);
  });

  it('refuses a body that is not an SNS message with 400', async () => {
    const res = await post({ Type: 'Notification', hello: 'world' });
    expect(res.statusCode).toBe(400);
    expect(existsSync(t.config.sns.certCacheDir)).toBe(true);
  });
});
