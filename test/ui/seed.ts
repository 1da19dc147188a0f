import type { TestContext } from '../helpers/context.js';
import { incidentExample, invoiceExample } from '../helpers/fixtures.js';

/** A small but varied audit trail: delivered, failed, bounced and queued messages to a few people. */
export async function seedMessages(t: TestContext) {
  const send = async (payload: object) =>
    (await t.inject({ method: 'POST', url: '/api/v1/email/send', payload })).json().items as {
      id: string;
      to: string;
    }[];
  const invoice = (await send(invoiceExample()))[0]!;
  const incident = await send(incidentExample());
  const more = await send({ ...incidentExample(), to: ['ops@example.com', 'bounce@example.com'] });
  const set = (id: string, patch: Record<string, unknown>) =>
    t.services.db.updateTable('email_messages').set(patch).where('id', '=', id).execute();
  const now = Date.now();
  await set(invoice.id, {
    status: 'delivered',
    sent_at: now,
    delivered_at: now,
    smtp_response: '250 2.0.0 OK queued as 4F2A',
  });
  await set(incident[0]!.id, {
    status: 'failed',
    error_message: '550 5.1.1 <noc@rgz.bj>: Recipient address rejected',
    attempts: 5,
    updated_at: now,
  });
  await set(more[1]!.id, {
    status: 'bounced',
    bounce_type: 'Permanent',
    bounce_subtype: 'NoEmail',
    updated_at: now - 1000,
  });
  await set(more[0]!.id, { status: 'sent', sent_at: now });
  return { invoice, failed: incident[0]!, queued: incident[1]!, bounced: more[1]! };
}
