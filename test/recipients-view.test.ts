import { describe, expect, it } from 'vitest';
import { recipientsView } from '../src/delivery/recipient-status.js';

/** A message to noc@ with a cc and a bcc, after one attempt: the cc accepted, the to deferred, the bcc not in the map. */
const afterOneAttempt = (status: string) => ({
  recipient_email: 'noc@rgz.bj',
  cc: JSON.stringify(['chef@rgz.bj']),
  bcc: JSON.stringify(['audit@rgz.bj']),
  status,
  recipient_status: JSON.stringify({
    'noc@rgz.bj': {
      kind: 'to',
      status: 'deferred',
      code: 451,
      enhanced: '4.2.1',
      response: '451 4.2.1 Busy',
      attempts: 1,
      at: 1,
    },
    'chef@rgz.bj': {
      kind: 'cc',
      status: 'accepted',
      code: 250,
      enhanced: '2.0.0',
      response: '250 2.0.0 Ok',
      attempts: 1,
      at: 1,
    },
  }),
  smtp_response: '451 4.2.1 Busy',
  attempts: 1,
  sent_at: null,
  updated_at: 2,
  error_message: null,
});

const statuses = (status: string) =>
  Object.fromEntries(recipientsView(afterOneAttempt(status) as never).map((r) => [r.address, r.status]));

describe('recipientsView', () => {
  it('shows a queued message still owed to its deferred and untried recipients', () => {
    expect(statuses('queued')).toEqual({
      'noc@rgz.bj': 'deferred',
      'chef@rgz.bj': 'accepted',
      'audit@rgz.bj': 'pending',
    });
  });

  it('shows a cancelled message as never sent to the recipients it had not reached, and sent to the one it had', () => {
    expect(statuses('cancelled')).toEqual({
      'noc@rgz.bj': 'not_sent',
      'chef@rgz.bj': 'accepted',
      'audit@rgz.bj': 'not_sent',
    });
  });
});
