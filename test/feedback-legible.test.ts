import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';
import {
  bounce,
  CERT_FILE,
  complaint,
  makeSigner,
  notification,
  placeCert,
  signEnvelope,
  TOPIC_ARN,
} from './helpers/sns.js';

const signer = makeSigner();

/**
 * A bounce or complaint reads as what it said (type, status code, diagnostic, feedback id, the
 * suppression it caused) on the message and on the dashboard, never as the relay's `250 Ok`; and
 * the message tells, before a Resend or a Retry, that the address is suppressed or the failure
 * was permanent.
 */
describe.each(backends)('feedback made legible on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, { SNS_ALLOWED_TOPIC_ARNS: TOPIC_ARN });
    placeCert(t.config.sns.certCacheDir, signer);
    t.services.sns.fetch = async (url) =>
      new Response(url.endsWith(CERT_FILE) ? signer.certPem : '<ConfirmSubscriptionResponse/>');
  });
  afterAll(() => t.close());

  const post = (envelope: object) =>
    t.inject({
      method: 'POST',
      url: '/api/v1/email/webhook',
      token: null,
      headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' },
      payload: JSON.stringify(envelope),
    });
  let n = 0;
  async function sentMessage(to = `fb${++n}@example.com`) {
    const res = await t.inject({ method: 'POST', url: '/api/v1/email/send', payload: { ...incidentExample(), to } });
    const id = res.json().items[0].id as string;
    const sesMessageId = `0000014644fe5ef6-9a483358-9170-4cb4-a269-${String(n).padStart(12, '0')}-000000`;
    await t.services.db
      .updateTable('email_messages')
      .set({ status: 'sent', sent_at: Date.now(), provider_message_id: sesMessageId, smtp_response: '250 Ok' })
      .where('id', '=', id)
      .execute();
    return { id, to, sesMessageId };
  }
  const message = async (id: string) => (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json();
  const failures = async () =>
    (await t.inject({ method: 'GET', url: '/api/v1/email/stats?days=1' })).json().latest_failures as Array<{
      id: string;
      reason: string;
      feedback: unknown;
    }>;

  it('shows a bounce with its type, status code, diagnostic, feedback id and the suppression it caused', async () => {
    const m = await sentMessage();
    expect((await post(signEnvelope(notification(bounce(m)), signer))).statusCode).toBe(200);
    const msg = await message(m.id);
    expect(msg.feedback).toEqual({
      kind: 'bounce',
      type: 'Permanent',
      subtype: 'General',
      status_code: '5.1.1',
      diagnostic: `smtp; 550 5.1.1 <${m.to}>... User`,
      feedback_id: '00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000',
      suppressed: [m.to],
      at: expect.any(String),
    });
    expect(msg.advice.suppression).toMatchObject({ reason: 'bounce', scope: 'all' });
    const row = (await failures()).find((f) => f.id === m.id)!;
    expect(row.reason).toContain('Permanent/General 5.1.1');
    expect(row.reason).toContain('550 5.1.1');
    expect(row.reason).toContain(`suppressed: ${m.to}`);
    expect(row.feedback).toEqual(msg.feedback);
  });

  it("shows a complaint's feedback type and id on the dashboard, not the relay's 250 Ok", async () => {
    const m = await sentMessage();
    expect((await post(signEnvelope(notification(complaint(m)), signer))).statusCode).toBe(200);
    const row = (await failures()).find((f) => f.id === m.id)!;
    expect(row.reason).not.toMatch(/^250/);
    expect(row.reason).toBe(
      `Complaint (abuse) · feedback id 000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000 · suppressed: ${m.to}`,
    );
    expect((await message(m.id)).feedback).toMatchObject({ kind: 'complaint', type: 'abuse', suppressed: [m.to] });
  });

  it('advises before a retry that the failure was permanent, and says nothing for a clean message', async () => {
    const clean = await sentMessage();
    expect((await message(clean.id)).advice).toEqual({ suppression: null, permanent_failure: null });
    expect((await message(clean.id)).feedback).toBeNull();

    const m = await sentMessage();
    await t.services.db.updateTable('email_messages').set({ status: 'failed' }).where('id', '=', m.id).execute();
    await t.services.events.record(t.services.db, [
      {
        messageId: m.id,
        type: 'attempt',
        at: Date.now(),
        data: { attempt: 1, code: 550, response: '550 5.1.1 user unknown', duration_ms: 3 },
      },
    ]);
    expect((await message(m.id)).advice.permanent_failure).toEqual({ code: 550, response: '550 5.1.1 user unknown' });

    // A resend to a suppressed address is answered `suppressed` (the UI has warned first).
    const bounced = await sentMessage();
    await post(signEnvelope(notification(bounce(bounced)), signer));
    const resend = await t.inject({ method: 'POST', url: `/api/v1/email/messages/${bounced.id}/resend` });
    expect(resend.statusCode).toBe(201);
    expect(resend.json().status).toBe('suppressed');
  });
});
