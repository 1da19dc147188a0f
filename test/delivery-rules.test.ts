import { describe, expect, it } from 'vitest';
import { retryDelay } from '../src/delivery/backoff.js';
import { type DecideInput, decide } from '../src/delivery/decide.js';
import type { FailureOutcome, SmtpOutcome } from '../src/delivery/outcome.js';
import { classifyReply, providerMessageId } from '../src/delivery/smtp-reply.js';

const backoff = { baseMs: 1000, maxMs: 8000 };
const HOUR = 3_600_000;

/** One message to one recipient, attempt `attempts` of `max_attempts`. */
const single = (attempts: number, max_attempts = 3) => ({
  attempts,
  max_attempts,
  recipient_status: null,
  relay_problem_since: null,
  recipient_email: 'client@example.com',
  cc: null,
  bcc: null,
});
const input = (
  message: DecideInput['message'],
  outcome: SmtpOutcome,
  extra: Partial<DecideInput> = {},
): DecideInput => ({
  message,
  envelope: ['client@example.com'],
  owed: ['client@example.com'],
  outcome,
  started: 0,
  at: 10,
  backoff,
  relayProblemMaxMs: 48 * HOUR,
  random: () => 0,
  ...extra,
});
const delivered = (response = '250 Ok abc-1'): SmtpOutcome => ({
  type: 'transaction',
  recipients: [{ address: 'client@example.com', accepted: true, code: 250, enhanced: null, response: '250 Ok' }],
  data: { code: Number(response.slice(0, 3)), enhanced: null, response },
});
const failure = (f: Partial<FailureOutcome>): FailureOutcome => ({
  type: 'failure',
  phase: 'data_end',
  kind: 'reply',
  code: null,
  enhanced: null,
  response: '',
  ...f,
});

describe('delivery rules', () => {
  it('reads the provider id from SES and Postfix replies, and nothing from others', () => {
    expect(providerMessageId('250 Ok 0100018d9c1b2a3e-5a6b7c8d-1234-000000')).toBe(
      '0100018d9c1b2a3e-5a6b7c8d-1234-000000',
    );
    expect(providerMessageId('250 Ok <0100018d9c1b2a3e-000000>')).toBe('0100018d9c1b2a3e-000000');
    expect(providerMessageId('250 2.0.0 Ok: queued as 4F1AB2C3D')).toBe('4F1AB2C3D');
    expect(providerMessageId('250 OK: message queued')).toBeNull();
    expect(providerMessageId('250 2.0.0 OK  1700000000 x1-20020a')).toBeNull();
  });

  it('treats 5xx replies as permanent (503 aside), 4xx, timeouts, dropped connections and auth trouble as worth retrying', () => {
    expect(
      classifyReply({ phase: 'rcpt', kind: 'reply', code: 550, enhanced: '5.1.1', text: '550 5.1.1 No such user' })
        .class,
    ).toBe('recipient_permanent');
    expect(
      classifyReply({ phase: 'data_end', kind: 'reply', code: 451, enhanced: null, text: '451 Try later' }).class,
    ).toBe('transient');
    // 503 is a session out of step (RFC 5321 §4.2.1 "bad sequence of commands"), not a refusal.
    expect(
      classifyReply({
        phase: 'rcpt',
        kind: 'reply',
        code: 503,
        enhanced: '5.5.1',
        text: '503 5.5.1 Error: need MAIL command',
      }).class,
    ).toBe('transient');
    expect(
      classifyReply({ phase: 'data_end', kind: 'reply', code: 554, enhanced: '5.7.1', text: '554 5.7.1 Rejected' })
        .class,
    ).toBe('message_permanent');
    expect(
      classifyReply({ phase: 'data_end', kind: 'timeout', code: null, enhanced: null, text: 'Timeout' }).class,
    ).toBe('transient');
    expect(
      classifyReply({ phase: 'data_end', kind: 'connection', code: null, enhanced: null, text: 'Connection closed' })
        .class,
    ).toBe('transient');
    // Wrong credentials are the relay's (our configuration's) problem, never the message's.
    expect(
      classifyReply({ phase: 'auth', kind: 'reply', code: 535, enhanced: '5.7.8', text: '535 Bad credentials' }),
    ).toEqual({ class: 'relay_problem', relayProblem: 'auth' });
  });

  it('backs off exponentially with jitter between half and all of the step, capped', () => {
    expect([1, 2, 3, 4, 5].map((a) => retryDelay(a, backoff, () => 0))).toEqual([500, 1000, 2000, 4000, 4000]);
    expect([1, 2, 3, 4, 5].map((a) => retryDelay(a, backoff, () => 1))).toEqual([1000, 2000, 4000, 8000, 8000]);
  });

  it('decides sent, retry or failed from the reply and the attempts left', () => {
    const soft = failure({ code: 451, response: '451 later' });
    expect(decide(input(single(1), soft))).toMatchObject({ status: 'queued', nextAttemptAt: 510, counted: true });
    expect(decide(input(single(3), soft, { random: undefined }))).toMatchObject({
      status: 'failed',
      errorMessage: 'Gave up after 3 attempts; last: 451 later',
    });
    expect(decide(input(single(1), { ...soft, code: 554, response: '554 rejected' })).status).toBe('failed');
    expect(decide(input(single(2), delivered()))).toMatchObject({
      status: 'sent',
      sentAt: 10,
      providerMessageId: 'abc-1',
      attempt: { attempt: 2, code: 250, duration_ms: 10 },
    });
  });
});

describe('per-recipient delivery rules', () => {
  const three = (attempts: number, recipient_status: string | null = null) => ({
    attempts,
    max_attempts: 3,
    recipient_status,
    relay_problem_since: null,
    recipient_email: 'to@example.com',
    cc: JSON.stringify(['cc@example.com']),
    bcc: JSON.stringify(['bcc@example.com']),
  });
  const envelope = ['to@example.com', 'cc@example.com', 'bcc@example.com'];
  const replies = (codes: Record<string, number>, data = '250 2.0.0 Ok: queued as Q1'): SmtpOutcome => ({
    type: 'transaction',
    recipients: Object.entries(codes).map(([address, code]) => ({
      address,
      accepted: code < 300,
      code,
      enhanced: null,
      response: `${code} reply for ${address}`,
    })),
    data: Object.values(codes).some((c) => c < 300)
      ? { code: Number(data.slice(0, 3)), enhanced: null, response: data }
      : null,
  });

  it('keeps a message queued for a greylisted cc while the others are accepted, and records the partial state', () => {
    const c = decide(
      input(three(1), replies({ 'to@example.com': 250, 'cc@example.com': 450, 'bcc@example.com': 250 }), {
        envelope,
        owed: envelope,
      }),
    );
    expect(c).toMatchObject({ status: 'queued', counted: true, providerMessageId: 'Q1' });
    expect(c.recipientStatus).toMatchObject({
      'to@example.com': { kind: 'to', status: 'accepted', attempts: 1 },
      'cc@example.com': { kind: 'cc', status: 'deferred', code: 450, attempts: 1 },
      'bcc@example.com': { kind: 'bcc', status: 'accepted', attempts: 1 },
    });
    expect(c.partial!.accepted.map((r) => r.address)).toEqual(['to@example.com', 'bcc@example.com']);
    expect(c.partial!.deferred).toEqual([
      expect.objectContaining({ address: 'cc@example.com', code: 450, response: '450 reply for cc@example.com' }),
    ]);
    expect(c.attempt.recipients!.map((r) => [r.address, r.status])).toEqual([
      ['to@example.com', 'accepted'],
      ['cc@example.com', 'deferred'],
      ['bcc@example.com', 'accepted'],
    ]);
  });

  it('ends sent when the deferred recipient is accepted later, partially_sent when it gives up', () => {
    const first = decide(
      input(three(1), replies({ 'to@example.com': 250, 'cc@example.com': 450, 'bcc@example.com': 250 }), {
        envelope,
        owed: envelope,
      }),
    );
    const status = JSON.stringify(first.recipientStatus);
    const later = decide(
      input(three(2, status), replies({ 'cc@example.com': 250 }), { envelope, owed: ['cc@example.com'] }),
    );
    expect(later).toMatchObject({ status: 'sent', partial: null, errorMessage: null });
    expect(later.recipientStatus!['cc@example.com']).toMatchObject({ status: 'accepted', attempts: 2 });
    const second = decide(
      input(three(2, status), replies({ 'cc@example.com': 451 }), { envelope, owed: ['cc@example.com'] }),
    );
    expect(second).toMatchObject({ status: 'queued', partial: null });
    const last = decide(
      input(three(3, JSON.stringify(second.recipientStatus)), replies({ 'cc@example.com': 451 }), {
        envelope,
        owed: ['cc@example.com'],
      }),
    );
    expect(last.status).toBe('partially_sent');
    expect(last.recipientStatus!['cc@example.com']).toMatchObject({ status: 'failed', attempts: 3 });
    expect(last.errorMessage).toMatch(
      /^2 of 3 recipients accepted; not delivered: cc@example\.com \(failed: 451 reply for cc@example\.com\)\. Gave up after 3 attempts/,
    );
  });

  it('refuses one recipient for good (5xx at RCPT) without failing the others', () => {
    const c = decide(
      input(three(1), replies({ 'to@example.com': 250, 'cc@example.com': 550, 'bcc@example.com': 250 }), {
        envelope,
        owed: envelope,
      }),
    );
    expect(c.status).toBe('partially_sent');
    expect(c.recipientStatus!['cc@example.com']).toMatchObject({ status: 'refused', code: 550 });
    expect(c.sentAt).toBe(10);
  });

  it('fails the message when every recipient is refused, and takes 552 at RCPT as temporary', () => {
    expect(
      decide(
        input(three(1), replies({ 'to@example.com': 550, 'cc@example.com': 551, 'bcc@example.com': 553 }), {
          envelope,
          owed: envelope,
        }),
      ).status,
    ).toBe('failed');
    const c = decide(
      input(three(1), replies({ 'to@example.com': 250, 'cc@example.com': 552, 'bcc@example.com': 250 }), {
        envelope,
        owed: envelope,
      }),
    );
    expect(c.recipientStatus!['cc@example.com']!.status).toBe('deferred');
  });

  it('fails only the recipients a refused message was offered to (5xx after DATA)', () => {
    const c = decide(
      input(
        three(1),
        replies({ 'to@example.com': 250, 'cc@example.com': 450, 'bcc@example.com': 250 }, '554 5.6.0 Content rejected'),
        { envelope, owed: envelope },
      ),
    );
    expect(c.status).toBe('queued');
    expect(c.recipientStatus).toMatchObject({
      'to@example.com': { status: 'failed' },
      'cc@example.com': { status: 'deferred' },
      'bcc@example.com': { status: 'failed' },
    });
  });
});

describe('relay problems', () => {
  const auth = failure({
    phase: 'mail',
    kind: 'reply',
    code: 530,
    enhanced: '5.7.0',
    response: '530 5.7.0 Authentication required',
  });

  it('do not spend the attempt, not even the last one, and are retried with a growing delay', () => {
    const c = decide(input(single(1, 1), auth));
    expect(c).toMatchObject({
      status: 'queued',
      counted: false,
      relayProblemSince: 10,
      attempt: { relay_problem: 'auth', error_code: 'EENVELOPE', phase: 'mail' },
    });
    expect(c.relay).toEqual({ state: 'problem', kind: 'auth', text: '530 5.7.0 Authentication required' });
    // The delay grows with how long the problem has lasted: about as long again, capped.
    const later = decide(input({ ...single(1, 1), relay_problem_since: 10 }, auth, { at: 10 + 5000, random: () => 1 }));
    expect(later.nextAttemptAt! - later.at).toBe(5000);
    expect(later.relayProblemSince).toBe(10);
  });

  it('fail the message once they have lasted RELAY_PROBLEM_MAX_HOURS', () => {
    const c = decide(input({ ...single(1), relay_problem_since: 0 }, auth, { at: 48 * HOUR }));
    expect(c.status).toBe('failed');
    expect(c.errorMessage).toBe('Relay problem (auth) for 48 h, gave up; last: 530 5.7.0 Authentication required');
  });

  it('end their run once the relay answers the transaction, and the relay is seen as working', () => {
    const c = decide(
      input(
        { ...single(1), relay_problem_since: 5 },
        failure({ phase: 'rcpt', kind: 'reply', code: 450, response: '450 busy' }),
      ),
    );
    expect(c).toMatchObject({ status: 'queued', counted: true, relayProblemSince: null, relay: { state: 'ok' } });
    // A broken connection says nothing either way about the relay's setup.
    expect(
      decide(input(single(1), failure({ phase: 'data_end', kind: 'connection', response: 'closed' }))).relay,
    ).toBeNull();
  });
});
