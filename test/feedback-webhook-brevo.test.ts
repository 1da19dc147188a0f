import { describe, expect, it } from 'vitest';
import { parseBrevo, verifyBrevo } from '../src/feedback/index.js';

const receivedAt = Date.parse('2024-03-05T10:00:00Z');

// The transactional event as Brevo's webhook documentation lists its fields.
const hardBounce = {
  event: 'hard_bounce',
  email: 'Example@Example.com',
  id: 123456,
  date: '2024-03-05 10:00:00',
  ts: 1709629200,
  'message-id': '<202403050900.12345678901@smtp-relay.mailin.fr>',
  ts_event: 1709629200,
  subject: 'Facture RGZ',
  'X-Mailin-custom': '{"message_id":"0d6f1c2e-1111-4222-8333-444455556666"}',
  sending_ip: '185.41.28.109',
  template_id: 22,
  tags: ['transac_messages'],
  reason: ' RecipientError: 550 5.5.0 Requested action not taken: mailbox unavailable.',
  ts_epoch: 1709632800123,
};

describe('Brevo webhook verification', () => {
  it('accepts the bearer token the webhook was created with', () => {
    expect(verifyBrevo({ authorization: 'Bearer client-token-0123' }, { token: 'client-token-0123' })).toEqual({
      ok: true,
    });
    expect(verifyBrevo({ Authorization: 'bearer client-token-0123' }, { token: 'client-token-0123' })).toEqual({
      ok: true,
    });
  });

  it('refuses another token, a missing header, another scheme', () => {
    const auth = { token: 'client-token-0123' };
    expect(verifyBrevo({ authorization: 'Bearer client-token-0124' }, auth)).toEqual({
      ok: false,
      reason: 'bad_credentials',
    });
    expect(verifyBrevo({ authorization: 'Bearer client-token-012' }, auth)).toEqual({
      ok: false,
      reason: 'bad_credentials',
    });
    expect(verifyBrevo({}, auth)).toEqual({ ok: false, reason: 'missing_credentials' });
    expect(verifyBrevo({ authorization: 'Basic client-token-0123' }, auth)).toEqual({
      ok: false,
      reason: 'bad_credentials',
    });
  });

  it('accepts basic credentials written in the webhook URL', () => {
    const auth = { username: 'brevo', password: 'pa55word' };
    expect(verifyBrevo({ authorization: `Basic ${Buffer.from('brevo:pa55word').toString('base64')}` }, auth)).toEqual({
      ok: true,
    });
    expect(verifyBrevo({ authorization: `Basic ${Buffer.from('brevo:pa55wore').toString('base64')}` }, auth)).toEqual({
      ok: false,
      reason: 'bad_credentials',
    });
  });

  it('accepts a token in the query string when configured so, and only the right one', () => {
    const auth = { token: 'query-token-9876', queryParam: 'token' };
    expect(verifyBrevo({}, auth, { token: 'query-token-9876' })).toEqual({ ok: true });
    expect(verifyBrevo({}, auth, { token: 'query-token-9875' })).toEqual({ ok: false, reason: 'bad_credentials' });
    expect(verifyBrevo({}, { token: 'query-token-9876' }, { token: 'query-token-9876' })).toEqual({
      ok: false,
      reason: 'missing_credentials',
    });
  });
});

describe('Brevo webhook events', () => {
  it('reads a hard bounce: recipient, UTC time, message id, category, suppression', () => {
    expect(parseBrevo(hardBounce, receivedAt)).toEqual([
      expect.objectContaining({
        provider: 'brevo',
        kind: 'hard_bounce',
        recipient: 'example@example.com',
        at: 1709632800123,
        providerMessageId: '<202403050900.12345678901@smtp-relay.mailin.fr>',
        messageIdHeader: '<202403050900.12345678901@smtp-relay.mailin.fr>',
        category: 'unknown_user',
        diagnostic: 'RecipientError: 550 5.5.0 Requested action not taken: mailbox unavailable.',
        suppress: true,
        providerEvent: 'hard_bounce',
      }),
    ]);
  });

  it('reads a batched payload with every transactional event kind', () => {
    const batch = [
      ['delivered', {}],
      ['soft_bounce', { reason: '452 4.2.2 Mailbox full' }],
      ['deferred', { reason: '421 4.7.0 Try again later' }],
      ['blocked', { reason: 'blocked : due to blacklist user' }],
      ['spam', {}],
      ['invalid_email', {}],
      ['unsubscribed', {}],
      ['opened', {}],
      ['hardBounce', { reason: '550 5.1.1 user unknown' }],
    ].map(([event, extra], i) => ({
      ...hardBounce,
      ...(extra as object),
      event,
      reason: (extra as { reason?: string }).reason,
      ts_epoch: hardBounce.ts_epoch + i,
    }));
    const parsed = parseBrevo(batch, receivedAt);
    expect(parsed.map((e) => [e.providerEvent, e.kind, e.final, e.suppress])).toEqual([
      ['delivered', 'delivered', true, false],
      ['soft_bounce', 'soft_bounce', true, false],
      ['deferred', 'soft_bounce', false, false],
      ['blocked', 'dropped', true, false],
      ['spam', 'complaint', true, true],
      ['invalid_email', 'hard_bounce', true, true],
      ['unsubscribed', 'unsubscribe', true, true],
      ['opened', 'other', false, false],
      ['hardBounce', 'hard_bounce', true, true],
    ]);
    expect(parsed[1]!.category).toBe('mailbox_full');
    expect(new Set(parsed.map((e) => e.dedupeId)).size).toBe(parsed.length);
  });

  it('falls back to ts_event (seconds) when ts_epoch is missing, and to the receive time when both are', () => {
    expect(parseBrevo({ ...hardBounce, ts_epoch: undefined }, receivedAt)[0]!.at).toBe(1709629200000);
    expect(parseBrevo({ event: 'delivered', email: 'a@example.com' }, receivedAt)[0]!.at).toBe(receivedAt);
  });

  it('gives the same dedupe id to the same event posted twice, and leaves out what is not an event', () => {
    expect(parseBrevo(hardBounce)[0]!.dedupeId).toBe(parseBrevo({ ...hardBounce })[0]!.dedupeId);
    expect(parseBrevo([null, 'x', {}, { event: '__proto__', email: 'a@example.com' }]).map((e) => e.kind)).toEqual([
      'other',
    ]);
    expect(parseBrevo(undefined)).toEqual([]);
  });
});
