import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resendMessage } from '../src/messages/resend.js';
import { eraseRecipient } from '../src/retention/index.js';
import { age, sendOk } from './helpers/archive.js';
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

  const deps = () => ({
    db: t.services.db,
    events: t.services.events,
    templates: t.services.templates,
    send: t.services.send,
    messageIdDomain: t.services.messageIdDomain,
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
