import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resendMessage } from '../src/messages/resend.js';
import { eraseRecipient } from '../src/retention/index.js';
import { age, detail, sendOk } from './helpers/archive.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { invoiceExample } from './helpers/fixtures.js';

const copiesOf = async (t: TestContext, id: string) =>
  (
    await t.services.db.selectFrom('email_messages').select(['id', 'status']).where('resent_from_id', '=', id).execute()
  ).map((r) => r.status);

describe.each(backends)('resend as an operator uses it, on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  const resend = (id: string) => t.inject({ method: 'POST', url: `/api/v1/email/messages/${id}/resend` });
  const deps = () => ({
    db: t.services.db,
    events: t.services.events,
    templates: t.services.templates,
    send: t.services.send,
    messageIdDomain: t.services.messageIdDomain,
  });

  it('a double click (three resends at once) queues one copy; the others are 409 invalid_state naming it', async () => {
    const [id] = await sendOk(t, { ...invoiceExample(), to: 'double-click@techconnect.bj' });
    await age(t, [id!], 1, 'sent');
    const answers = await Promise.all([resend(id!), resend(id!), resend(id!)]);
    const codes = answers.map((a) => a.statusCode).sort();
    expect(codes).toEqual([201, 409, 409]);
    const created = answers.find((a) => a.statusCode === 201)!.json().id;
    for (const a of answers.filter((x) => x.statusCode === 409))
      expect(a.json().error).toMatchObject({ code: 'invalid_state', details: { resent_as: created } });
    expect(await copiesOf(t, id!)).toEqual(['queued']);
    expect((await detail(t, id!)).events.filter((e: { type: string }) => e.type === 'resent')).toHaveLength(1);
  });

  it('once the copy went out (or was cancelled), the message can be resent again', async () => {
    const [id] = await sendOk(t, { ...invoiceExample(), to: 'again-later@techconnect.bj' });
    await age(t, [id!], 1, 'sent');
    const first = await resend(id!);
    expect(first.statusCode).toBe(201);
    expect((await resend(id!)).statusCode).toBe(409);
    const cancel = await t.inject({ method: 'DELETE', url: `/api/v1/email/messages/${first.json().id}` });
    expect(cancel.statusCode).toBe(200);
    const second = await resend(id!);
    expect(second.statusCode).toBe(201);
    await age(t, [second.json().id], 0, 'sent');
    expect((await resend(id!)).statusCode).toBe(201);
    expect((await copiesOf(t, id!)).sort()).toEqual(['cancelled', 'queued', 'sent']);
  });

  it('an erasure committed after the content was read and before the copy: 409 resend_content_erased, no copy', async () => {
    const address = 'erased-meanwhile@techconnect.bj';
    const [id] = await sendOk(t, { ...invoiceExample(), to: address });
    await age(t, [id!], 1, 'sent');
    const d = deps();
    // The erasure lands between resend's reads and its commit.
    const send = {
      checkSender: d.send.checkSender.bind(d.send),
      enqueue: (async (...args: Parameters<typeof d.send.enqueue>) => {
        await eraseRecipient(t.services, address, Date.now());
        return d.send.enqueue(...args);
      }) as typeof d.send.enqueue,
    };
    await expect(resendMessage({ ...d, send }, id!, 'test')).rejects.toMatchObject({ code: 'resend_content_erased' });
    expect(await copiesOf(t, id!)).toEqual([]);
    const left = await t.services.db
      .selectFrom('email_messages')
      .select('id')
      .where('recipient_email', '=', address)
      .execute();
    expect(left).toEqual([]);
  });
});
