import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LoginAttempt, LoginGuard, loginClient } from '../src/platform/login-guard.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { SmtpTalk } from './helpers/smtp-talk.js';
import { sendKey, startSubmissionFor } from './helpers/submission.js';

/** A login that ends with its outcome at once (the listener's path: admit, check the key, fail or succeed). */
/** The refusal, or the failure's outcome (`remembered: false` shown only when it is not). */
async function failFrom(guard: LoginGuard, address: string) {
  const attempt = await guard.admit(address);
  if (typeof attempt === 'string') return attempt;
  const { remembered, ...outcome } = attempt.fail();
  return remembered ? outcome : { ...outcome, remembered };
}
async function succeedFrom(guard: LoginGuard, address: string) {
  const attempt = await guard.admit(address);
  if (typeof attempt === 'string') return attempt;
  attempt.succeed();
  return 'ok';
}

describe('the login guard', () => {
  it('slows each failure more, locks the client after the last allowed one, and forgets it after the lockout', async () => {
    let now = 1_000_000;
    const guard = new LoginGuard({
      maxFailures: 3,
      lockoutMs: 60_000,
      delayStepMs: 100,
      maxDelayMs: 250,
      now: () => now,
    });
    expect(await failFrom(guard, '192.0.2.9')).toEqual({ delayMs: 100, locked: false });
    expect(await failFrom(guard, '192.0.2.9')).toEqual({ delayMs: 200, locked: false });
    expect(guard.locked('192.0.2.9')).toBe(false);
    expect(await failFrom(guard, '192.0.2.9')).toEqual({ delayMs: 250, locked: true });
    expect(guard.locked('192.0.2.9')).toBe(true);
    expect(await failFrom(guard, '192.0.2.9')).toBe('locked');
    expect(guard.locked('192.0.2.10')).toBe(false);
    now += 59_999;
    expect(guard.locked('192.0.2.9')).toBe(true);
    now += 1;
    expect(guard.locked('192.0.2.9')).toBe(false);
    expect(await failFrom(guard, '192.0.2.9')).toEqual({ delayMs: 100, locked: false });
  });

  it('counts an IPv6 /64 as one client, an IPv4-mapped address as its IPv4 address', async () => {
    expect(loginClient('192.0.2.9')).toBe('192.0.2.9');
    expect(loginClient('::ffff:192.0.2.9')).toBe('192.0.2.9');
    expect(loginClient('::FFFF:c000:209')).toBe('192.0.2.9');
    expect(loginClient('0:0:0:0:0:ffff:192.0.2.9')).toBe('192.0.2.9');
    expect(loginClient('2001:db8:1:2::a')).toBe('2001:db8:1:2::/64');
    expect(loginClient('2001:DB8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(loginClient('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(loginClient('::1')).toBe('0:0:0:0::/64');
    expect(loginClient('fe80::1%eth0')).toBe('fe80:0:0:0::/64');

    const guard = new LoginGuard({ maxFailures: 3, lockoutMs: 60_000, delayStepMs: 0 });
    // Three addresses of one /64, one failure each: the /64 is locked out.
    await failFrom(guard, '2001:db8:1:2::a');
    await failFrom(guard, '2001:db8:1:2:1234::b');
    expect(await failFrom(guard, '2001:db8:1:2:ffff:ffff:ffff:fffe')).toEqual({ delayMs: 0, locked: true });
    expect(guard.locked('2001:db8:1:2:dead:beef:0:1')).toBe(true);
    expect(await failFrom(guard, '2001:db8:1:2::c')).toBe('locked');
    expect(guard.locked('2001:db8:1:3::a')).toBe(false);
    // IPv4, mapped or not, one address per client: a neighbour is not locked out with it.
    await failFrom(guard, '192.0.2.9');
    await failFrom(guard, '::ffff:192.0.2.9');
    await failFrom(guard, '::ffff:c000:209');
    expect(guard.locked('192.0.2.9')).toBe(true);
    expect(guard.locked('::ffff:192.0.2.10')).toBe(false);
    expect(guard.locked('192.0.2.10')).toBe(false);
    expect(guard.locked('::1')).toBe(false);
  });

  it('keeps failures through a successful login: they expire with their window', async () => {
    let now = 1_000_000;
    const guard = new LoginGuard({ maxFailures: 5, lockoutMs: 60_000, delayStepMs: 0, now: () => now });
    // Two wrong keys, the right one, again and again: the fifth failure (third round) locks.
    const outcomes: unknown[] = [];
    for (let round = 0; round < 3; round++) {
      outcomes.push((await failFrom(guard, '192.0.2.9')) as object);
      outcomes.push((await failFrom(guard, '192.0.2.9')) as object);
      outcomes.push(await succeedFrom(guard, '192.0.2.9'));
      now += 1000;
    }
    expect(outcomes.map((o) => (typeof o === 'string' ? o : (o as { locked: boolean }).locked))).toEqual([
      false,
      false,
      'ok',
      false,
      false,
      'ok',
      true,
      'locked',
      'locked',
    ]);
    now += 60_000;
    expect(await succeedFrom(guard, '192.0.2.9')).toBe('ok');
  });

  it('makes room by forgetting clients not locked out, oldest first; never a lockout', async () => {
    const guard = new LoginGuard({ maxFailures: 2, lockoutMs: 60_000, delayStepMs: 0, maxTracked: 3 });
    await failFrom(guard, '192.0.2.1');
    await failFrom(guard, '192.0.2.1');
    await failFrom(guard, '192.0.2.2');
    await failFrom(guard, '192.0.2.2');
    expect([guard.locked('192.0.2.1'), guard.locked('192.0.2.2')]).toEqual([true, true]);
    // Many new clients, one failure each: only the counting ones make room for each other.
    for (let i = 10; i < 50; i++) await failFrom(guard, `192.0.2.${i}`);
    expect([guard.locked('192.0.2.1'), guard.locked('192.0.2.2')]).toEqual([true, true]);
    // 192.0.2.48 was forgotten to make room for .49: its next failure is a first one again.
    expect((await failFrom(guard, '192.0.2.48')) as object).toEqual({ delayMs: 0, locked: false });
    // And the table full of lockouts makes no more room: .49's failure is not remembered.
    expect((await failFrom(guard, '192.0.2.48')) as object).toEqual({ delayMs: 0, locked: true });
    expect(await failFrom(guard, '192.0.2.49')).toEqual({ delayMs: 5000, locked: false, remembered: false });
    expect([guard.locked('192.0.2.1'), guard.locked('192.0.2.2')]).toEqual([true, true]);
  });

  it('while full of lockouts, still logs in the clients it does not remember; their failures wait the longest delay', async () => {
    let now = 1_000_000;
    const guard = new LoginGuard({ maxFailures: 1, lockoutMs: 60_000, delayStepMs: 0, maxTracked: 2, now: () => now });
    await failFrom(guard, '192.0.2.1');
    now += 10_000;
    await failFrom(guard, '2001:db8::1');
    // Strangers' failures do not lock out a client that made none.
    expect(await succeedFrom(guard, '192.0.2.3')).toBe('ok');
    // A failure that cannot be remembered: answered after the longest delay, never a lockout
    // (with maxFailures 1 a remembered one would lock), and the table does not grow.
    for (let i = 0; i < 3; i++)
      expect(await failFrom(guard, '2001:db8:0:1::1')).toEqual({ delayMs: 5000, locked: false, remembered: false });
    expect(guard.locked('2001:db8:0:1::1')).toBe(false);
    expect(await failFrom(guard, '2001:db8::2')).toBe('locked');
    // The first lockout expires: room for one client again, whose failure counts.
    now += 50_000;
    expect(guard.locked('192.0.2.1')).toBe(false);
    expect(await failFrom(guard, '192.0.2.3')).toEqual({ delayMs: 0, locked: true });
    expect(guard.locked('192.0.2.3')).toBe(true);
    expect(guard.locked('2001:db8::1')).toBe(true);
  });

  it('lets a client check at most the keys its budget allows at once; the others wait for their outcome', async () => {
    const guard = new LoginGuard({ maxFailures: 3, lockoutMs: 60_000, delayStepMs: 0 });
    const first = (await Promise.all([1, 2, 3].map(() => guard.admit('192.0.2.9')))) as LoginAttempt[];
    let fourth: LoginAttempt | string | undefined;
    const waiting = guard.admit('192.0.2.9').then((a) => {
      fourth = a;
    });
    // Another client is not held up.
    expect(typeof (await guard.admit('192.0.2.10'))).toBe('object');
    await new Promise((r) => setTimeout(r, 10));
    expect(fourth).toBeUndefined();
    first[0]!.fail();
    await new Promise((r) => setTimeout(r, 10));
    expect(fourth).toBeUndefined(); // one failure and two under way: still the whole budget
    first[1]!.succeed();
    await waiting;
    expect(typeof fourth).toBe('object');
    // Failures of all of them: those still waiting are refused.
    const fifth = guard.admit('192.0.2.9');
    first[2]!.fail();
    (fourth as LoginAttempt).fail();
    expect(await fifth).toBe('locked');
    // Settling twice counts once.
    first[0]!.fail();
    first[0]!.abandon();
    expect(guard.locked('192.0.2.9')).toBe(true);
  });
});

/** A raw SMTP session from a chosen local address, past its EHLO. */
async function openFrom(port: number, from: string, host = '127.0.0.1'): Promise<SmtpTalk> {
  const c = await SmtpTalk.connect(port, { host, localAddress: from });
  expect(await c.command('EHLO app.example')).toMatch(/^250/);
  return c;
}

/** One login in a session of its own; the reply's code (and reason for 454). */
async function login(port: number, from: string, password: string, host?: string): Promise<string> {
  const c = await openFrom(port, from, host);
  try {
    const r = await c.login(password);
    return r.startsWith('454') ? r.split(':')[0]! : r.slice(0, 3);
  } finally {
    c.close();
  }
}

const hasIPv6Loopback = Object.values(networkInterfaces()).some((list) =>
  (list ?? []).some((i) => i.family === 'IPv6' && i.address === '::1'),
);

// The guard holds no database state: SQLite is enough.
describe('failed-login lockout of the SMTP submission listener', () => {
  let t: TestContext;
  let token: string;

  beforeAll(async () => {
    t = await createTestContext('sqlite', { SUBMISSION_PORT: '0', SUBMISSION_AUTH_MAX_FAILURES: '5' });
    ({ token } = await sendKey(t));
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is not reset by a successful login: two wrong keys and a right one, repeated, end in a lockout', async () => {
    const own = await startSubmissionFor(t, { loginDelayStepMs: 1 });
    try {
      const replies: string[] = [];
      for (let round = 0; round < 3; round++)
        for (const password of ['pst_wrong_1', 'pst_wrong_2', token])
          replies.push(await login(own.port, '127.0.0.2', password));
      expect(replies).toEqual([
        '535',
        '535',
        '235',
        '535',
        '535',
        '235',
        '535', // the fifth failure
        '454 4.7.0 too_many_failures',
        '454 4.7.0 too_many_failures',
      ]);
      // Another address is not concerned.
      expect(await login(own.port, '127.0.0.3', token)).toBe('235');
    } finally {
      await own.close();
    }
  });

  it('keeps a lockout when many other addresses fail, forgetting those not locked out', async () => {
    const own = await startSubmissionFor(t, { loginDelayStepMs: 1, loginMaxTracked: 3 });
    try {
      for (let i = 0; i < 5; i++) await login(own.port, '127.0.0.2', `pst_wrong_${i}`);
      expect(await login(own.port, '127.0.0.2', token)).toBe('454 4.7.0 too_many_failures');
      // Ten more addresses, one failure each, over a table of three: the lockout stays.
      for (let i = 10; i < 20; i++) expect(await login(own.port, `127.0.0.${i}`, 'pst_wrong')).toBe('535');
      expect(await login(own.port, '127.0.0.2', token)).toBe('454 4.7.0 too_many_failures');
      expect(await login(own.port, '127.0.0.30', token)).toBe('235');
    } finally {
      await own.close();
    }
  });

  it('still logs in addresses it does not know while it remembers nothing but lockouts; their failures are not remembered', async () => {
    const own = await startSubmissionFor(t, { loginDelayStepMs: 1, loginMaxDelayMs: 20, loginMaxTracked: 2 });
    try {
      for (const from of ['127.0.0.2', '127.0.0.3'])
        for (let i = 0; i < 5; i++) expect(await login(own.port, from, `pst_wrong_${i}`)).toBe('535');
      // Strangers' failures do not lock out an application that made none.
      expect(await login(own.port, '127.0.0.4', token)).toBe('235');
      // A wrong key from an address it cannot remember: refused (after the longest delay), never locked.
      for (let i = 0; i < 6; i++) expect(await login(own.port, '127.0.0.6', `pst_wrong_${i}`)).toBe('535');
      expect(await login(own.port, '127.0.0.6', token)).toBe('235');
      expect(await login(own.port, '127.0.0.2', token)).toBe('454 4.7.0 too_many_failures');
      const metrics = (await t.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/postier_submission_auth_failures_total\{kind="locked"\} [1-9]/);
    } finally {
      await own.close();
    }
  });

  it('checks no more keys at once from one address than it has failures left: parallel connections guess no more', async () => {
    // Keys looked up over a network, as on PostgreSQL: a round trip during which more logins arrive.
    const keys = t.services.apiKeys;
    const lookUp = keys.authenticate.bind(keys);
    const slow = vi.spyOn(keys, 'authenticate').mockImplementation(async (key) => {
      await new Promise((r) => setTimeout(r, 30));
      return lookUp(key);
    });
    const own = await startSubmissionFor(t, { loginDelayStepMs: 1 });
    try {
      const clients = await Promise.all(Array.from({ length: 15 }, () => openFrom(own.port, '127.0.0.5')));
      const replies = await Promise.all(clients.map((c, i) => c.login(`pst_wrong_${i}`)));
      for (const c of clients) c.close();
      const codes = replies.map((r) => r.slice(0, 3));
      expect(codes.filter((c) => c === '535')).toHaveLength(5);
      expect(codes.filter((c) => c === '454')).toHaveLength(10);
      expect(await login(own.port, '127.0.0.5', token)).toBe('454 4.7.0 too_many_failures');
    } finally {
      slow.mockRestore();
      await own.close();
    }
  });
});

describe.skipIf(!hasIPv6Loopback)('failed-login lockout on a dual-stack listener (SUBMISSION_HOST=::)', () => {
  let dual: TestContext;
  beforeAll(async () => {
    dual = await createTestContext('sqlite', { SUBMISSION_PORT: '0', SUBMISSION_HOST: '::' });
  });
  afterAll(async () => {
    await dual?.close();
  });

  it('counts an IPv4 client (::ffff:127.0.0.2) by its address, not with every IPv4 and ::1 in one /64', async () => {
    const { token: key } = await sendKey(dual);
    const own = await startSubmissionFor(dual, { loginDelayStepMs: 1 });
    try {
      for (let i = 0; i < 5; i++) await login(own.port, '127.0.0.2', `pst_wrong_${i}`);
      expect(await login(own.port, '127.0.0.2', key)).toBe('454 4.7.0 too_many_failures');
      expect(await login(own.port, '127.0.0.3', key)).toBe('235');
      expect(await login(own.port, '::1', key, '::1')).toBe('235');
      // And ::1 (its /64) is locked out by its own failures.
      for (let i = 0; i < 5; i++) await login(own.port, '::1', `pst_wrong_${i}`, '::1');
      expect(await login(own.port, '::1', key, '::1')).toBe('454 4.7.0 too_many_failures');
      expect(await login(own.port, '127.0.0.3', key)).toBe('235');
    } finally {
      await own.close();
    }
  });
});
