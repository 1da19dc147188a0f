import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryReplayCache, parseMailgun, verifyMailgun } from '../src/feedback/index.js';

const signingKey = 'key-0123456789abcdef0123456789abcdef';
const now = Date.parse('2024-03-05T10:00:00Z');

/** Signs as Mailgun does: HMAC-SHA256(signing key, timestamp + token), hex. */
function signed(eventData: Record<string, unknown>, opts: { key?: string; timestamp?: number; token?: string } = {}) {
  const timestamp = String(opts.timestamp ?? Math.floor(now / 1000));
  const token = opts.token ?? randomBytes(25).toString('hex');
  const signature = createHmac('sha256', opts.key ?? signingKey)
    .update(timestamp + token)
    .digest('hex');
  return { signature: { timestamp, token, signature }, 'event-data': eventData };
}

const clock = () => now;
const options = (cache = new MemoryReplayCache(1000, clock)) => ({ signingKey, replayCache: cache, now: clock });

// "failed" permanent, from Mailgun's event documentation.
const failedPermanent = {
  event: 'failed',
  id: 'G9Bn5sl1TC6nu79C8C0bwg',
  timestamp: 1709632800.529,
  'log-level': 'error',
  severity: 'permanent',
  reason: 'bounce',
  recipient: 'Alice@example.com',
  envelope: { sender: 'bounces@rgz.bj', transport: 'smtp', targets: 'alice@example.com' },
  message: {
    headers: {
      to: 'Alice <alice@example.com>',
      'message-id': '0d6f1c2e-1111-4222-8333-444455556666@rgz.bj',
      from: 'RGZ <noreply@rgz.bj>',
      subject: 'Facture',
    },
    attachments: [],
    size: 111,
  },
  'delivery-status': {
    'attempt-no': 1,
    message:
      "5.1.1 The email account that you tried to reach does not exist. Please try\n5.1.1 double-checking the recipient's email address for typos",
    code: 550,
    description: '',
    'session-seconds': 0.43,
    'mx-host': 'mx.example.com',
  },
  flags: { 'is-routed': false, 'is-authenticated': true, 'is-system-test': false, 'is-test-mode': false },
  tags: [],
  'user-variables': {},
};

describe('Mailgun webhook verification', () => {
  it('accepts a body signed with the webhook signing key, once', async () => {
    const cache = new MemoryReplayCache(1000, clock);
    const body = signed(failedPermanent);
    expect(await verifyMailgun(body, options(cache))).toEqual({ ok: true });
    expect(await verifyMailgun(body, options(cache))).toEqual({ ok: false, reason: 'replayed' });
  });

  it('refuses a wrong key, an altered timestamp or token, a stale or future timestamp', async () => {
    expect(await verifyMailgun(signed(failedPermanent, { key: 'another-key' }), options())).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    const body = signed(failedPermanent);
    expect(
      await verifyMailgun({ ...body, signature: { ...body.signature, token: `${body.signature.token}0` } }, options()),
    ).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(
      await verifyMailgun(
        { ...body, signature: { ...body.signature, timestamp: String(Number(body.signature.timestamp) + 1) } },
        options(),
      ),
    ).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(await verifyMailgun(signed(failedPermanent, { timestamp: now / 1000 - 301 }), options())).toEqual({
      ok: false,
      reason: 'stale_timestamp',
    });
    expect(await verifyMailgun(signed(failedPermanent, { timestamp: now / 1000 + 301 }), options())).toEqual({
      ok: false,
      reason: 'stale_timestamp',
    });
    expect(await verifyMailgun(signed(failedPermanent, { timestamp: now / 1000 - 299 }), options())).toEqual({
      ok: true,
    });
  });

  it('refuses a body without its signature block, or with a malformed one', async () => {
    expect(await verifyMailgun({ 'event-data': failedPermanent }, options())).toEqual({
      ok: false,
      reason: 'missing_signature',
    });
    expect(await verifyMailgun(null, options())).toEqual({ ok: false, reason: 'missing_signature' });
    const body = signed(failedPermanent);
    expect(await verifyMailgun({ signature: { ...body.signature, signature: undefined } }, options())).toEqual({
      ok: false,
      reason: 'missing_signature',
    });
    expect(await verifyMailgun({ signature: { ...body.signature, timestamp: '12e3' } }, options())).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('does not let unsigned requests fill the replay cache', async () => {
    const cache = new MemoryReplayCache(1000, clock);
    await verifyMailgun(signed(failedPermanent, { key: 'forger' }), options(cache));
    expect(cache.size).toBe(0);
  });

  it('accepts a subaccount event by its parent-signature, and a key being rotated', async () => {
    const parentKey = 'key-parent-account';
    const body = signed(failedPermanent, { key: 'subaccount-key-we-do-not-have' });
    const parent = createHmac('sha256', parentKey)
      .update(body.signature.timestamp + body.signature.token)
      .digest('hex');
    const withParent = { ...body, signature: { ...body.signature, 'parent-signature': parent } };
    expect(await verifyMailgun(withParent, { ...options(), signingKey: parentKey })).toEqual({ ok: true });
    expect(
      await verifyMailgun(signed(failedPermanent, { key: 'old-key' }), {
        ...options(),
        signingKey: [signingKey, 'old-key'],
      }),
    ).toEqual({ ok: true });
  });

  it('signs only timestamp and token, as Mailgun documents: event-data is protected by TLS, not by the signature', async () => {
    const body = signed(failedPermanent);
    expect(
      await verifyMailgun(
        { ...body, 'event-data': { ...failedPermanent, recipient: 'someone-else@example.com' } },
        options(),
      ),
    ).toEqual({ ok: true });
  });
});

describe('Mailgun replay cache (in memory)', () => {
  it('forgets a token once it has expired, and stays within its size', () => {
    let t = 0;
    const cache = new MemoryReplayCache(3, () => t);
    expect(cache.remember('a', 100)).toBe(true);
    expect(cache.remember('a', 100)).toBe(false);
    t = 101;
    expect(cache.remember('a', 200)).toBe(true);
    for (const k of ['b', 'c', 'd', 'e']) cache.remember(k, 1000);
    expect(cache.size).toBeLessThanOrEqual(3);
  });
});

describe('Mailgun webhook events', () => {
  it('reads a permanent failure as a hard bounce of an unknown user, with our Message-ID', () => {
    expect(parseMailgun(signed(failedPermanent))).toEqual([
      expect.objectContaining({
        provider: 'mailgun',
        kind: 'hard_bounce',
        recipient: 'alice@example.com',
        at: 1709632800529,
        providerMessageId: '0d6f1c2e-1111-4222-8333-444455556666@rgz.bj',
        messageIdHeader: '<0d6f1c2e-1111-4222-8333-444455556666@rgz.bj>',
        category: 'unknown_user',
        status: '5.1.1',
        suppress: true,
        final: true,
        dedupeId: 'mailgun:G9Bn5sl1TC6nu79C8C0bwg',
        providerEvent: 'failed/permanent/bounce',
      }),
    ]);
  });

  it('reads a temporary failure as a soft bounce still being retried', () => {
    const [e] = parseMailgun(
      signed({
        ...failedPermanent,
        id: 'tmp1',
        severity: 'temporary',
        reason: 'generic',
        'delivery-status': {
          'attempt-no': 3,
          description: 'No MX for nomx.example.com',
          message: 'No MX for nomx.example.com',
          code: 498,
          'retry-seconds': 1800,
        },
      }),
    );
    expect(e).toMatchObject({ kind: 'soft_bounce', final: false, suppress: false, category: 'domain_not_found' });
  });

  it('reads a failure Mailgun did not even attempt (its own suppression list) as dropped', () => {
    const [e] = parseMailgun(
      signed({
        ...failedPermanent,
        reason: 'suppress-bounce',
        'delivery-status': { code: 605, description: 'Not delivering to previously bounced address', message: '' },
      }),
    );
    expect(e).toMatchObject({ kind: 'dropped', suppress: false });
  });

  it('reads a permanent failure after the retry period as a final soft bounce', () => {
    const [e] = parseMailgun(
      signed({
        ...failedPermanent,
        reason: 'old',
        'delivery-status': { code: 421, message: '4.4.2 Connection timed out' },
      }),
    );
    expect(e).toMatchObject({ kind: 'soft_bounce', final: true, category: 'network', suppress: false });
  });

  it('reads deliveries, complaints, unsubscribes and other events', () => {
    const kind = (event: string) =>
      parseMailgun(
        signed({
          ...failedPermanent,
          event,
          severity: undefined,
          reason: undefined,
          'delivery-status': { code: 250, message: 'OK' },
        }),
      )[0]!;
    expect(kind('delivered')).toMatchObject({ kind: 'delivered', diagnostic: 'OK', suppress: false });
    expect(kind('complained')).toMatchObject({ kind: 'complaint', suppress: true });
    expect(kind('unsubscribed')).toMatchObject({ kind: 'unsubscribe', suppress: true });
    expect(kind('opened')).toMatchObject({ kind: 'other' });
    expect(kind('rejected')).toMatchObject({ kind: 'dropped' });
  });

  it('gives nothing for bodies without event data, without throwing', () => {
    for (const body of [null, 'x', {}, { 'event-data': null }, { 'event-data': { event: 42 } }])
      expect(parseMailgun(body)).toEqual([]);
  });
});
