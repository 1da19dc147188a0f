import { describe, expect, it } from 'vitest';
import { retryDelay } from '../src/delivery/backoff.js';
import { decide } from '../src/delivery/process-message.js';
import { failureFrom, providerMessageId } from '../src/delivery/smtp-reply.js';

const backoff = { baseMs: 1000, maxMs: 8000 };

describe('delivery rules', () => {
  it('reads the provider id from SES and Postfix replies, and nothing from others', () => {
    expect(providerMessageId('250 Ok 0100018d9c1b2a3e-5a6b7c8d-1234-000000')).toBe('0100018d9c1b2a3e-5a6b7c8d-1234-000000');
    expect(providerMessageId('250 Ok <0100018d9c1b2a3e-000000>')).toBe('0100018d9c1b2a3e-000000');
    expect(providerMessageId('250 2.0.0 Ok: queued as 4F1AB2C3D')).toBe('4F1AB2C3D');
    expect(providerMessageId('250 OK: message queued')).toBeNull();
    expect(providerMessageId('250 2.0.0 OK  1700000000 x1-20020a')).toBeNull();
  });

  it('treats 5xx replies as permanent (503 aside), 4xx, timeouts, dropped connections and auth trouble as worth retrying', () => {
    expect(failureFrom(Object.assign(new Error('x'), { responseCode: 550, response: '550 5.1.1 No such user', code: 'EENVELOPE' }))).toMatchObject({ permanent: true, code: 550, response: '550 5.1.1 No such user' });
    expect(failureFrom(Object.assign(new Error('x'), { responseCode: 451, response: '451 Try later', code: 'EMESSAGE' })).permanent).toBe(false);
    // 503 is a session out of step (RFC 5321 §4.2.1 "bad sequence of commands"), not a refusal.
    expect(failureFrom(Object.assign(new Error('x'), { responseCode: 503, response: '503 5.5.1 Error: need MAIL command', code: 'EENVELOPE' })).permanent).toBe(false);
    expect(failureFrom(Object.assign(new Error('x'), { responseCode: 554, response: '554 5.7.1 Rejected', code: 'EMESSAGE' })).permanent).toBe(true);
    expect(failureFrom(Object.assign(new Error('Timeout'), { code: 'ETIMEDOUT' }))).toMatchObject({ permanent: false, code: null, errorCode: 'ETIMEDOUT', response: 'Timeout' });
    expect(failureFrom(Object.assign(new Error('Connection closed'), { code: 'ECONNECTION' })).permanent).toBe(false);
    expect(failureFrom(Object.assign(new Error('Invalid login'), { responseCode: 535, code: 'EAUTH', response: '535 Bad credentials' })).permanent).toBe(false);
  });

  it('backs off exponentially with jitter between half and all of the step, capped', () => {
    expect([1, 2, 3, 4, 5].map((a) => retryDelay(a, backoff, () => 0))).toEqual([500, 1000, 2000, 4000, 4000]);
    expect([1, 2, 3, 4, 5].map((a) => retryDelay(a, backoff, () => 1))).toEqual([1000, 2000, 4000, 8000, 8000]);
  });

  it('decides sent, retry or failed from the reply and the attempts left', () => {
    const soft = { ok: false as const, code: 451, response: '451 later', errorCode: 'EMESSAGE', permanent: false };
    expect(decide({ attempts: 1, max_attempts: 3 }, soft, 0, 10, backoff, () => 0)).toMatchObject({ status: 'queued', nextAttemptAt: 510 });
    expect(decide({ attempts: 3, max_attempts: 3 }, soft, 0, 10, backoff)).toMatchObject({ status: 'failed', errorMessage: 'Gave up after 3 attempts; last: 451 later' });
    expect(decide({ attempts: 1, max_attempts: 3 }, { ...soft, code: 554, response: '554 rejected', permanent: true }, 0, 10, backoff).status).toBe('failed');
    expect(decide({ attempts: 2, max_attempts: 3 }, { ok: true, code: 250, response: '250 Ok abc-1', rejected: [] }, 0, 10, backoff)).toMatchObject({ status: 'sent', sentAt: 10, providerMessageId: 'abc-1', attempt: { attempt: 2, code: 250, duration_ms: 10 } });
  });
});
