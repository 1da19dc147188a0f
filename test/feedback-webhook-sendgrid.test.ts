import { type KeyObject, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseSendGrid, sendGridPublicKey, verifySendGrid } from '../src/feedback/index.js';

const now = Date.parse('2024-03-05T10:00:00Z');
const ts = String(Math.floor(now / 1000));

/** A P-256 key pair as SendGrid makes one; the public half as its settings show it (base64 DER). */
function keys() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, publicKeyB64: publicKey.export({ type: 'spki', format: 'der' }).toString('base64') };
}

/** Signs as SendGrid does: ECDSA SHA-256 over timestamp + raw body, DER, base64. */
function headersFor(privateKey: KeyObject, body: string, timestamp = ts) {
  const signature = sign('sha256', Buffer.from(timestamp + body), { key: privateKey, dsaEncoding: 'der' }).toString(
    'base64',
  );
  return { 'X-Twilio-Email-Event-Webhook-Signature': signature, 'X-Twilio-Email-Event-Webhook-Timestamp': timestamp };
}

// A batch shaped as in SendGrid's Event Webhook reference.
const events = [
  {
    email: 'a@example.com',
    timestamp: 1709632800,
    'smtp-id': '<0d6f1c2e-1111-4222-8333-444455556666@rgz.bj>',
    event: 'processed',
    category: 'cat facts',
    sg_event_id: 'sg_ev_processed',
    sg_message_id: '14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0',
  },
  {
    email: 'a@example.com',
    timestamp: 1709632801,
    'smtp-id': '<0d6f1c2e-1111-4222-8333-444455556666@rgz.bj>',
    event: 'deferred',
    response: '400 try again later',
    attempt: '5',
    sg_event_id: 'sg_ev_deferred',
    sg_message_id: '14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0',
  },
  {
    email: 'A@Example.com',
    timestamp: 1709632802,
    'smtp-id': '<0d6f1c2e-1111-4222-8333-444455556666@rgz.bj>',
    event: 'delivered',
    response: '250 OK',
    sg_event_id: 'sg_ev_delivered',
    sg_message_id: '14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0',
  },
  {
    email: 'b@example.com',
    timestamp: 1709632803,
    'smtp-id': '<x@rgz.bj>',
    event: 'bounce',
    type: 'bounce',
    bounce_classification: 'Invalid Address',
    reason: '500 unknown recipient',
    status: '5.0.0',
    sg_event_id: 'sg_ev_bounce',
    sg_message_id: 'abc.filter1',
  },
  {
    email: 'c@example.com',
    timestamp: 1709632804,
    'smtp-id': '<y@rgz.bj>',
    event: 'bounce',
    type: 'blocked',
    bounce_classification: 'Reputation',
    reason: '550 5.7.1 blocked by policy',
    status: '5.7.1',
    sg_event_id: 'sg_ev_blocked',
    sg_message_id: 'def.filter1',
  },
  {
    email: 'd@example.com',
    timestamp: 1709632805,
    event: 'dropped',
    reason: 'Bounced Address',
    status: '5.0.0',
    sg_event_id: 'sg_ev_dropped',
    sg_message_id: 'ghi.filter1',
  },
  {
    email: 'e@example.com',
    timestamp: 1709632806,
    event: 'spamreport',
    sg_event_id: 'sg_ev_spam',
    sg_message_id: 'jkl.filter1',
  },
  {
    email: 'f@example.com',
    timestamp: 1709632807,
    event: 'unsubscribe',
    sg_event_id: 'sg_ev_unsub',
    sg_message_id: 'mno.filter1',
  },
  {
    email: 'g@example.com',
    timestamp: 1709632808,
    event: 'group_unsubscribe',
    asm_group_id: 10,
    sg_event_id: 'sg_ev_gunsub',
    sg_message_id: 'pqr.filter1',
  },
  {
    email: 'h@example.com',
    timestamp: 1709632809,
    event: 'open',
    sg_event_id: 'sg_ev_open',
    sg_message_id: 'stu.filter1',
  },
];

describe('SendGrid signed event webhook verification', () => {
  it("checks SendGrid's own published test vector", () => {
    const publicKey =
      'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==';
    const headers = {
      'x-twilio-email-event-webhook-signature':
        'MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=',
      'x-twilio-email-event-webhook-timestamp': '1588788367',
    };
    const payload = JSON.stringify({ category: 'example_payload', event: 'test_event', message_id: 'message_id' });
    expect(verifySendGrid(headers, payload, { publicKey, toleranceSeconds: null })).toEqual({ ok: true });
    expect(verifySendGrid(headers, payload, { publicKey, now: () => now })).toEqual({
      ok: false,
      reason: 'stale_timestamp',
    });
  });

  it('accepts a body signed with the account key (base64 DER, PEM or a parsed key), as bytes or string', () => {
    const { privateKey, publicKeyB64 } = keys();
    const body = JSON.stringify(events);
    const headers = headersFor(privateKey, body);
    const opts = { publicKey: publicKeyB64, now: () => now };
    expect(verifySendGrid(headers, body, opts)).toEqual({ ok: true });
    expect(verifySendGrid(headers, Buffer.from(body), opts)).toEqual({ ok: true });
    expect(verifySendGrid(headers, body, { ...opts, publicKey: sendGridPublicKey(publicKeyB64) })).toEqual({
      ok: true,
    });
    const pem = `-----BEGIN PUBLIC KEY-----\n${publicKeyB64}\n-----END PUBLIC KEY-----\n`;
    expect(verifySendGrid(headers, body, { ...opts, publicKey: pem })).toEqual({ ok: true });
  });

  it('refuses a tampered body, another timestamp, another key', () => {
    const { privateKey, publicKeyB64 } = keys();
    const body = JSON.stringify(events);
    const headers = headersFor(privateKey, body);
    const opts = { publicKey: publicKeyB64, now: () => now };
    expect(verifySendGrid(headers, body.replace('b@example.com', 'z@example.com'), opts)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifySendGrid(headers, `${body} `, opts)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(
      verifySendGrid({ ...headers, 'X-Twilio-Email-Event-Webhook-Timestamp': String(Number(ts) - 1) }, body, opts),
    ).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifySendGrid(headers, body, { ...opts, publicKey: keys().publicKeyB64 })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('refuses a stale or future timestamp, even well signed', () => {
    const { privateKey, publicKeyB64 } = keys();
    const body = '[]';
    const old = String(Number(ts) - 301);
    expect(
      verifySendGrid(headersFor(privateKey, body, old), body, { publicKey: publicKeyB64, now: () => now }),
    ).toEqual({
      ok: false,
      reason: 'stale_timestamp',
    });
    const future = String(Number(ts) + 301);
    expect(
      verifySendGrid(headersFor(privateKey, body, future), body, { publicKey: publicKeyB64, now: () => now }),
    ).toEqual({
      ok: false,
      reason: 'stale_timestamp',
    });
  });

  it('refuses missing or malformed signature headers', () => {
    const { privateKey, publicKeyB64 } = keys();
    const headers = headersFor(privateKey, '[]');
    const opts = { publicKey: publicKeyB64, now: () => now };
    expect(verifySendGrid({}, '[]', opts)).toEqual({ ok: false, reason: 'missing_signature' });
    expect(
      verifySendGrid(
        { 'X-Twilio-Email-Event-Webhook-Signature': headers['X-Twilio-Email-Event-Webhook-Signature'] },
        '[]',
        opts,
      ),
    ).toEqual({
      ok: false,
      reason: 'missing_signature',
    });
    expect(verifySendGrid({ ...headers, 'X-Twilio-Email-Event-Webhook-Timestamp': 'yesterday' }, '[]', opts)).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(
      verifySendGrid({ ...headers, 'X-Twilio-Email-Event-Webhook-Signature': 'not base64 at all!' }, '[]', opts),
    ).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(
      verifySendGrid({ ...headers, 'X-Twilio-Email-Event-Webhook-Signature': 'AAAAAAAAAAAA' }, '[]', opts),
    ).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('refuses, at configuration time, a key that is not EC P-256', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'der' })
      .toString('base64');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' })
      .publicKey.export({ type: 'spki', format: 'der' })
      .toString('base64');
    expect(() => sendGridPublicKey(rsa)).toThrow(TypeError);
    expect(() => sendGridPublicKey(p384)).toThrow(TypeError);
  });
});

describe('SendGrid webhook events', () => {
  it('reads a batch: each event kind, recipient, time, ids and dedupe id', () => {
    const parsed = parseSendGrid(events);
    expect(parsed.map((e) => [e.providerEvent, e.kind])).toEqual([
      ['processed', 'other'],
      ['deferred', 'soft_bounce'],
      ['delivered', 'delivered'],
      ['bounce/bounce', 'hard_bounce'],
      ['bounce/blocked', 'soft_bounce'],
      ['dropped', 'dropped'],
      ['spamreport', 'complaint'],
      ['unsubscribe', 'unsubscribe'],
      ['group_unsubscribe', 'unsubscribe'],
      ['open', 'other'],
    ]);
    expect(parsed[2]).toMatchObject({
      recipient: 'a@example.com',
      at: 1709632802000,
      providerMessageId: '14c5d75ce93',
      messageIdHeader: '<0d6f1c2e-1111-4222-8333-444455556666@rgz.bj>',
      dedupeId: 'sendgrid:sg_ev_delivered',
      diagnostic: '250 OK',
    });
    expect(parsed[1]).toMatchObject({ final: false, suppress: false });
    expect(parsed[3]).toMatchObject({
      category: 'unknown_user',
      status: '5.0.0',
      suppress: true,
      diagnostic: '500 unknown recipient',
    });
    expect(parsed[4]).toMatchObject({ category: 'policy_or_spam_block', suppress: false });
    expect(parsed[6]).toMatchObject({ suppress: true });
    expect(new Set(parsed.map((e) => e.dedupeId)).size).toBe(parsed.length);
  });

  it('leaves out what is not an event, without throwing', () => {
    expect(
      parseSendGrid([null, 1, 'x', {}, { event: 'delivered', email: 'a@example.com', sg_event_id: 'z' }]),
    ).toHaveLength(1);
    expect(parseSendGrid(null)).toEqual([]);
    expect(
      parseSendGrid({
        event: 'bounce',
        type: 'bounce',
        email: 'a@example.com',
        reason: '550 5.1.1 no such user',
        bounce_classification: '__proto__',
      })[0],
    ).toMatchObject({
      kind: 'hard_bounce',
      category: 'unknown_user',
    });
  });
});
