import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymizeOld } from '../src/retention/anonymize.js';
import { age, detail, sendOk } from './helpers/archive.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { invoiceExample, pdfBytes } from './helpers/fixtures.js';

const provisioned = {
  to: 'client@techconnect.bj',
  template_key: 'instance_provisioned',
  variables: {
    customer_name: 'Aminata',
    instance_name: 'erp',
    protocol: 'https',
    domain: 'erp.cloud.rgz.bj',
    login: 'admin',
    password: 'Vq7#mR2p-Lw9z',
    plan: 'Business',
  },
};

describe.each(backends)('resend on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  const resend = (id: string, token?: string | null) =>
    t.inject({ method: 'POST', url: `/api/v1/email/messages/${id}/resend`, token });

  it('queues a new message with the archived content, recipients and attachments, linked to the original', async () => {
    const [id] = await sendOk(t, { ...invoiceExample(), cc: 'finance@techconnect.bj' });
    await age(t, [id!], 2, 'sent');
    const res = await resend(id!);
    expect(res.statusCode).toBe(201);
    const item = res.json();
    expect(item).toMatchObject({ status: 'queued', to: 'reseller@techconnect.bj', resent_from_id: id });
    expect(item.id).not.toBe(id);

    const [a, b] = [await detail(t, id!), await detail(t, item.id)];
    expect(b.resent_from_id).toBe(id);
    expect(b.status).toBe('queued');
    expect(b.smtp_message_id).not.toBe(a.smtp_message_id);
    expect(b.smtp_message_id).toContain(item.id);
    for (const k of [
      'subject',
      'html_content',
      'text_content',
      'cc',
      'template_key',
      'template_version',
      'locale',
    ] as const)
      expect(b[k]).toEqual(a[k]);
    expect(b.attachments).toHaveLength(1);
    expect(b.attachments[0].id).not.toBe(a.attachments[0].id);
    const dl = await t.inject({
      method: 'GET',
      url: `/api/v1/email/messages/${item.id}/attachments/${b.attachments[0].id}`,
    });
    expect(Buffer.compare(dl.rawPayload, pdfBytes())).toBe(0);

    expect(a.events.find((e: { type: string }) => e.type === 'resent').data).toMatchObject({ resent_as: item.id });
    expect(b.events).toEqual([
      expect.objectContaining({ type: 'queued', data: expect.objectContaining({ resent_from: id }) }),
    ]);
  });

  it('refuses with 409 invalid_state a message that has not gone out yet (it would go twice)', async () => {
    for (const status of ['queued', 'scheduled', 'sending'] as const) {
      const [id] = await sendOk(t, invoiceExample());
      await t.services.db.updateTable('email_messages').set({ status }).where('id', '=', id!).execute();
      const res = await resend(id!);
      expect(res.statusCode, status).toBe(409);
      expect(res.json().error).toMatchObject({ code: 'invalid_state', details: { status } });
      expect(
        await t.services.db.selectFrom('email_messages').select('id').where('resent_from_id', '=', id!).execute(),
      ).toEqual([]);
    }
  });

  it('refuses with 409 resend_masked_content when the template masks sensitive values in the archive', async () => {
    const [id] = await sendOk(t, provisioned);
    // Resent once it went out (a message still queued is not: it would go twice).
    await t.services.db.updateTable('email_messages').set({ status: 'sent' }).where('id', '=', id!).execute();
    const res = await resend(id!);
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toMatchObject({
      code: 'resend_masked_content',
      details: { sensitive_variables: ['password'] },
    });
    expect((await detail(t, id!)).events.map((e: { type: string }) => e.type)).toEqual(['queued']);
  });

  it('refuses with 409 resend_content_erased once the message was anonymized', async () => {
    const [id] = await sendOk(t, invoiceExample());
    await age(t, [id!], 200, 'sent');
    await anonymizeOld(t.services, Date.now());
    const res = await resend(id!);
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('resend_content_erased');
  });

  it('answers 404 for an unknown message and 403 to a send key', async () => {
    const res = await resend('01890000-0000-7000-8000-000000000000');
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('message_not_found');
    const { token } = await t.services.apiKeys.create('app', 'send', 'test');
    const [id] = await sendOk(t, invoiceExample());
    expect((await resend(id!, token)).statusCode).toBe(403);
  });
});
