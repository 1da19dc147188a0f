import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePostmark, verifyPostmark } from '../src/feedback/index.js';

const basic = (user: string, pass: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
});
const creds = { username: 'postmark', password: 'correct horse battery staple' };
const receivedAt = Date.parse('2024-03-05T10:00:00Z');

// Shapes from Postmark's webhook documentation (Bounce, Spam complaint, Delivery, Subscription change).
const bounce = (over: Record<string, unknown> = {}) => ({
  RecordType: 'Bounce',
  MessageStream: 'outbound',
  ID: 901542550,
  Type: 'HardBounce',
  TypeCode: 1,
  Name: 'Hard bounce',
  Tag: 'Test',
  MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
  Metadata: { a_key: 'a_value' },
  ServerID: 23,
  Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).',
  Details:
    "smtp;550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address",
  Email: 'John@example.com',
  From: 'sender@rgz.bj',
  BouncedAt: '2024-03-05T09:33:54.9070259Z',
  DumpAvailable: true,
  Inactive: true,
  CanActivate: true,
  Subject: 'Facture RGZ',
  Content: 'Return-Path: <>\r\n...',
  ...over,
});

describe('Postmark webhook verification', () => {
  it('accepts the basic credentials of the webhook URL', () => {
    expect(verifyPostmark(basic(creds.username, creds.password), creds)).toEqual({ ok: true });
    expect(verifyPostmark({ authorization: basic(creds.username, creds.password).Authorization }, creds)).toEqual({
      ok: true,
    });
  });

  it('refuses a wrong password, a wrong user, a missing or malformed Authorization header', () => {
    expect(verifyPostmark(basic(creds.username, 'wrong'), creds)).toEqual({ ok: false, reason: 'bad_credentials' });
    expect(verifyPostmark(basic('other', creds.password), creds)).toEqual({ ok: false, reason: 'bad_credentials' });
    expect(verifyPostmark(basic(creds.username, `${creds.password}x`), creds)).toEqual({
      ok: false,
      reason: 'bad_credentials',
    });
    expect(verifyPostmark({}, creds)).toEqual({ ok: false, reason: 'missing_credentials' });
    expect(verifyPostmark({ Authorization: 'Basic !!!' }, creds)).toEqual({ ok: false, reason: 'bad_credentials' });
    expect(verifyPostmark({ Authorization: `Bearer ${creds.password}` }, creds)).toEqual({
      ok: false,
      reason: 'bad_credentials',
    });
    expect(verifyPostmark({ Authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` }, creds)).toEqual({
      ok: false,
      reason: 'bad_credentials',
    });
  });

  it('accepts a custom header token when the webhook is set up with one', () => {
    const auth = { header: 'X-Postier-Token', token: 's3cret-token' };
    expect(verifyPostmark({ 'x-postier-token': 's3cret-token' }, auth)).toEqual({ ok: true });
    expect(verifyPostmark({ 'x-postier-token': 's3cret-tokeN' }, auth)).toEqual({
      ok: false,
      reason: 'bad_credentials',
    });
    expect(verifyPostmark({}, auth)).toEqual({ ok: false, reason: 'missing_credentials' });
  });
});

describe('Postmark webhook events', () => {
  it('reads a hard bounce: recipient, time, ids, category from the details, suppression', () => {
    const [e] = parsePostmark(bounce(), receivedAt);
    expect(e).toMatchObject({
      provider: 'postmark',
      kind: 'hard_bounce',
      recipient: 'john@example.com',
      at: Date.parse('2024-03-05T09:33:54.907Z'),
      providerMessageId: '883953f4-6105-42a2-a16a-77a8eac79483',
      category: 'unknown_user',
      status: '5.1.1',
      suppress: true,
      final: true,
      dedupeId: 'postmark:bounce:901542550',
      providerEvent: 'Bounce/HardBounce',
    });
  });

  it('finds our Message-ID in the bounce content when the webhook includes it', () => {
    const content = readFileSync(
      path.join(import.meta.dirname, 'fixtures/feedback/reports/dsn-postfix-unknown-user-virtual.eml'),
      'utf8',
    );
    const expected = (
      JSON.parse(readFileSync(path.join(import.meta.dirname, 'fixtures/feedback/expected.json'), 'utf8')) as Record<
        string,
        { messageId: string }
      >
    )['dsn-postfix-unknown-user-virtual.eml']!.messageId;
    expect(parsePostmark(bounce({ Content: content }), receivedAt)[0]!.messageIdHeader).toBe(expected);
  });

  it('maps the bounce types: soft, transient (still trying), spam notification, DNS error, blocked, autoresponder', () => {
    const kinds = (type: string, details = '') => {
      const [e] = parsePostmark(bounce({ Type: type, Details: details, Inactive: false }), receivedAt);
      return { kind: e!.kind, category: e!.category, final: e!.final, suppress: e!.suppress };
    };
    expect(kinds('SoftBounce', 'smtp;452 4.2.2 Mailbox full')).toEqual({
      kind: 'soft_bounce',
      category: 'mailbox_full',
      final: true,
      suppress: false,
    });
    expect(kinds('Transient', 'Message delayed')).toMatchObject({ kind: 'soft_bounce', final: false, suppress: false });
    expect(kinds('SpamNotification')).toEqual({
      kind: 'soft_bounce',
      category: 'policy_or_spam_block',
      final: true,
      suppress: false,
    });
    expect(kinds('DnsError')).toMatchObject({ kind: 'soft_bounce', category: 'network' });
    expect(kinds('Blocked', 'smtp;554 5.7.1 blocked using zen.spamhaus.org')).toMatchObject({
      kind: 'soft_bounce',
      category: 'policy_or_spam_block',
    });
    expect(kinds('BadEmailAddress')).toMatchObject({ kind: 'hard_bounce', category: 'unknown_user', suppress: true });
    expect(kinds('AutoResponder')).toMatchObject({ kind: 'auto_reply', suppress: false });
    expect(kinds('ManuallyDeactivated')).toMatchObject({ kind: 'dropped' });
    expect(kinds('SomethingNew')).toMatchObject({ kind: 'other' });
    expect(kinds('__proto__')).toMatchObject({ kind: 'other' });
  });

  it('does not suppress a hard bounce that names a block rather than the address', () => {
    const [e] = parsePostmark(
      bounce({ Details: 'smtp;550 5.7.1 Service unavailable, client host blocked using Spamhaus', Inactive: false }),
      receivedAt,
    );
    expect(e).toMatchObject({ kind: 'hard_bounce', category: 'policy_or_spam_block', suppress: false });
  });

  it('reads a spam complaint record', () => {
    const [e] = parsePostmark(
      bounce({
        RecordType: 'SpamComplaint',
        Type: 'SpamComplaint',
        TypeCode: 512,
        ID: 42,
        Details: 'Test spam complaint details',
      }),
      receivedAt,
    );
    expect(e).toMatchObject({
      kind: 'complaint',
      recipient: 'john@example.com',
      suppress: true,
      dedupeId: 'postmark:bounce:42',
    });
  });

  it('reads a delivery', () => {
    const [e] = parsePostmark(
      {
        RecordType: 'Delivery',
        ServerID: 23,
        MessageStream: 'outbound',
        MessageID: '00000000-0000-0000-0000-000000000000',
        Recipient: 'john@example.com',
        Tag: 'welcome-email',
        DeliveredAt: '2024-03-05T09:33:54.9070259Z',
        Details: 'Test delivery webhook details',
        Metadata: {},
      },
      receivedAt,
    );
    expect(e).toMatchObject({
      kind: 'delivered',
      recipient: 'john@example.com',
      diagnostic: 'Test delivery webhook details',
      dedupeId: 'postmark:delivery:00000000-0000-0000-0000-000000000000:john@example.com',
    });
  });

  it('reads subscription changes: an unsubscribe, a hard-bounce suppression, a reactivation', () => {
    const change = (SuppressSending: boolean, SuppressionReason: string | null) =>
      parsePostmark(
        {
          RecordType: 'SubscriptionChange',
          MessageID: 'a4909a96-73d7-4c49-b148-a54522d3f7ac',
          ServerID: 23,
          MessageStream: 'outbound',
          ChangedAt: '2024-03-05T17:17:32Z',
          Recipient: 'bounced-address@example.com',
          Origin: 'Recipient',
          SuppressSending,
          SuppressionReason,
          Tag: 'my-tag',
          Metadata: {},
        },
        receivedAt,
      )[0]!;
    expect(change(true, 'ManualSuppression')).toMatchObject({
      kind: 'unsubscribe',
      suppress: true,
      at: Date.parse('2024-03-05T17:17:32Z'),
    });
    expect(change(true, 'HardBounce')).toMatchObject({ kind: 'hard_bounce', suppress: true });
    expect(change(false, null)).toMatchObject({ kind: 'resubscribe', suppress: false });
    expect(change(true, 'HardBounce').dedupeId).not.toBe(change(false, null).dedupeId);
  });

  it('gives nothing for bodies that are not Postmark records, without throwing', () => {
    for (const body of [
      null,
      42,
      'text',
      {},
      [],
      { RecordType: 'Inbound' },
      [{ RecordType: 'Bounce', ID: 'x', Type: 'HardBounce' }, 'junk'],
    ]) {
      expect(() => parsePostmark(body, receivedAt)).not.toThrow();
    }
    expect(parsePostmark({ RecordType: 'Inbound' }, receivedAt)).toEqual([]);
    expect(parsePostmark([bounce({ ID: 1 }), bounce({ ID: 2 })], receivedAt).map((e) => e.dedupeId)).toEqual([
      'postmark:bounce:1',
      'postmark:bounce:2',
    ]);
  });
});
