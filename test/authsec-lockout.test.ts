import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { ConfigError, loadConfig } from '../src/platform/config.js';
import { proxyTrust } from '../src/platform/http/trusted-proxies.js';
import { LoginGuard } from '../src/platform/login-guard.js';
import { createLogger } from '../src/platform/log.js';
import { createTestContext, type TestContext } from './helpers/context.js';

interface Answer {
  status: number;
  code: string | undefined;
  retryAfter: string | undefined;
}

/** One real HTTP request, from `localAddress` when given, with the headers given. */
function get(base: string, path: string, headers: Record<string, string>, localAddress?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { headers, localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode!, code, retryAfter: res.headers['retry-after'] as string | undefined });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** An app on a real loopback port with the context's services, logging where the test reads it. */
async function serve(t: TestContext, lines: string[]): Promise<{ app: FastifyInstance; base: string }> {
  const out = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const app = await buildApp(
    { ...t.services, log: createLogger('warn', out) },
    { checkResponses: true, auth: { delayStepMs: 1 } },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

const TEMPLATES = '/api/v1/email/templates';

// The guard holds no database state: SQLite is enough.
describe('failed bearer tokens on the HTTP API, behind a trusted proxy (TRUST_PROXY=loopback, the default)', () => {
  let t: TestContext;
  let app: FastifyInstance;
  let base: string;
  const lines: string[] = [];
  let sendToken: string;
  let revokedToken: string;

  beforeAll(async () => {
    t = await createTestContext('sqlite', { API_AUTH_MAX_FAILURES: '3', API_AUTH_LOCKOUT_SECONDS: '600' });
    ({ app, base } = await serve(t, lines));
    sendToken = (await t.services.apiKeys.create('app', 'send', 'test')).token;
    const revoked = await t.services.apiKeys.create('old app', 'send', 'test');
    await t.services.apiKeys.revoke(revoked.key.id);
    revokedToken = revoked.token;
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  /** A request as the proxy forwards it for `client`. */
  const from = (client: string, authorization?: string) =>
    get(base, TEMPLATES, { 'x-forwarded-for': client, ...(authorization ? { authorization } : {}) });

  it('refuses a client with 429 after wrong tokens (unknown, revoked, malformed), a right token between them clearing nothing', async () => {
    // The counters belong to the process (one registry), which earlier test files may have moved:
    // what this test adds is compared, not their value.
    const failures = async (kind: string) =>
      Number(
        new RegExp(`^postier_api_auth_failures_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(
          await (await fetch(`${base}/metrics`)).text(),
        )?.[1] ?? 0,
      );
    const before = { invalid: await failures('invalid'), locked: await failures('locked') };
    const answers: string[] = [];
    for (const authorization of [
      'Bearer pst_unknown',
      `Bearer ${sendToken}`,
      `Bearer ${revokedToken}`,
      `Bearer ${sendToken}`,
      'Basic dXNlcjpwYXNz',
      `Bearer ${sendToken}`,
      'Bearer pst_unknown_2',
    ]) {
      const a = await from('192.0.2.9', authorization);
      answers.push(`${a.status} ${a.code ?? ''}`.trim());
    }
    expect(answers).toEqual([
      '401 unauthorized',
      '200',
      '401 unauthorized',
      '200',
      '401 unauthorized', // the third failure: locked out from now on
      '429 too_many_failed_logins',
      '429 too_many_failed_logins',
    ]);
    const locked = await from('192.0.2.9', `Bearer ${sendToken}`);
    expect(locked.status).toBe(429);
    const retryAfter = Number(locked.retryAfter);
    expect(retryAfter).toBeGreaterThan(500);
    expect(retryAfter).toBeLessThanOrEqual(600);
    // Another client is not concerned, nor are requests that need no token.
    expect((await from('192.0.2.10', `Bearer ${sendToken}`)).status).toBe(200);
    expect((await get(base, '/healthz', { 'x-forwarded-for': '192.0.2.9' })).status).toBe(200);
    // Logged once, with the client.
    const logged = lines.filter((l) => l.includes('bearer tokens refused for a client'));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0]!)).toMatchObject({ client: '192.0.2.9', lockout_seconds: 600 });
    expect(logged[0]).not.toContain('pst_unknown');
    // Counted.
    expect((await failures('invalid')) - before.invalid).toBeGreaterThanOrEqual(3);
    expect((await failures('locked')) - before.locked).toBeGreaterThanOrEqual(1);
  });

  it('counts the address the trusted proxy saw, not one the client wrote into X-Forwarded-For', async () => {
    // The client forges a first entry each time; the proxy appends the address it saw.
    for (let i = 0; i < 3; i++)
      expect((await from(`198.51.100.${i}, 192.0.2.20`, 'Bearer pst_wrong')).status).toBe(401);
    expect((await from('198.51.100.99, 192.0.2.20', `Bearer ${sendToken}`)).status).toBe(429);
    expect((await from('192.0.2.20', `Bearer ${sendToken}`)).status).toBe(429);
    expect((await from('198.51.100.99', `Bearer ${sendToken}`)).status).toBe(200);
  });

  it('counts an IPv6 /64 as one client', async () => {
    for (const a of ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2:ffff::c'])
      expect((await from(a, 'Bearer pst_wrong')).status).toBe(401);
    expect((await from('2001:db8:1:2::d', `Bearer ${sendToken}`)).code).toBe('too_many_failed_logins');
    expect((await from('2001:db8:1:3::a', `Bearer ${sendToken}`)).status).toBe(200);
  });

  it('checks no more tokens at once from one client than it has failures left', async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => from('192.0.2.30', `Bearer pst_wrong_${i}`)),
    );
    expect(answers.filter((a) => a.status === 401)).toHaveLength(3);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(7);
  });

  it('does not count a request whose client is the proxy itself (nothing forwarded): it would lock out every client of the proxy', async () => {
    for (let i = 0; i < 6; i++)
      expect((await get(base, TEMPLATES, { authorization: 'Bearer pst_wrong' })).status).toBe(401);
    expect((await get(base, TEMPLATES, { authorization: `Bearer ${sendToken}` })).status).toBe(200);
  });

  it('counts no request without an Authorization header', async () => {
    for (let i = 0; i < 5; i++) expect((await from('192.0.2.40')).code).toBe('unauthorized');
    expect((await from('192.0.2.40', `Bearer ${sendToken}`)).status).toBe(200);
  });
});

describe('failed bearer tokens with TRUST_PROXY=none: the peer address is the client', () => {
  let t: TestContext;
  let app: FastifyInstance;
  let base: string;
  const lines: string[] = [];

  beforeAll(async () => {
    t = await createTestContext('sqlite', { API_AUTH_MAX_FAILURES: '3', TRUST_PROXY: 'none' });
    ({ app, base } = await serve(t, lines));
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('counts a loopback client, whatever X-Forwarded-For it sends, and says the header was ignored', async () => {
    const { token } = await t.services.apiKeys.create('app', 'send', 'test');
    for (let i = 0; i < 3; i++) {
      const a = await get(
        base,
        TEMPLATES,
        { authorization: 'Bearer pst_wrong', 'x-forwarded-for': `192.0.2.${i}` },
        '127.0.0.2',
      );
      expect(a.status).toBe(401);
    }
    const refused = await get(
      base,
      TEMPLATES,
      { authorization: `Bearer ${token}`, 'x-forwarded-for': '192.0.2.77' },
      '127.0.0.2',
    );
    expect(refused).toMatchObject({ status: 429, code: 'too_many_failed_logins' });
    expect((await get(base, TEMPLATES, { authorization: `Bearer ${token}` }, '127.0.0.3')).status).toBe(200);
    const logged = lines.find((l) => l.includes('bearer tokens refused for a client'));
    expect(JSON.parse(logged!)).toMatchObject({ client: '127.0.0.2', hint: expect.stringContaining('TRUST_PROXY') });
  });
});

describe('TRUST_PROXY and the guard', () => {
  const env = { DATABASE_URL: 'sqlite::memory:', SMTP_FROM_EMAIL: 'noreply@rgz.bj' };

  it('reads addresses, ranges and names, none, and refuses anything else at start-up', () => {
    expect(loadConfig(env).trustProxy).toEqual(['loopback']);
    expect(loadConfig({ ...env, TRUST_PROXY: 'none' }).trustProxy).toEqual([]);
    expect(loadConfig({ ...env, TRUST_PROXY: '10.0.0.5, 172.16.0.0/12,uniquelocal' }).trustProxy).toEqual([
      '10.0.0.5',
      '172.16.0.0/12',
      'uniquelocal',
    ]);
    expect(() => loadConfig({ ...env, TRUST_PROXY: 'true' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY/);
    const trust = proxyTrust(['uniquelocal', '203.0.113.7']);
    expect(['172.17.0.2', '::ffff:10.1.2.3', 'fd00::1', '203.0.113.7'].map(trust)).toEqual([true, true, true, true]);
    expect(['127.0.0.1', '203.0.113.8', '192.0.2.1', 'not an address'].map(trust)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });

  it('says how long a lockout has left, and nothing to wait for a client it does not remember', async () => {
    let now = 1_000_000;
    const guard = new LoginGuard({ maxFailures: 1, lockoutMs: 60_000, delayStepMs: 0, maxTracked: 2, now: () => now });
    expect(guard.retryAfterMs('192.0.2.1')).toBe(0);
    for (const a of ['192.0.2.1', '192.0.2.2']) {
      const attempt = await guard.admit(a);
      if (typeof attempt === 'string') throw new Error(attempt);
      attempt.fail();
      now += 10_000;
    }
    expect(guard.retryAfterMs('192.0.2.1')).toBe(40_000);
    expect(guard.retryAfterMs('192.0.2.2')).toBe(50_000);
    expect(guard.retryAfterMs('192.0.2.3')).toBe(0);
    expect(typeof (await guard.admit('192.0.2.3'))).toBe('object');
  });
});
