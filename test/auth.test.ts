import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../src/keys/tokens.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';

describe.each(backends)('authentication and scopes on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  const createKey = async (scope: 'admin' | 'send') => {
    const res = await t.inject({ method: 'POST', url: '/api/v1/keys', payload: { name: `${scope} key`, scope } });
    expect(res.statusCode).toBe(201);
    return res.json() as { id: string; token: string; prefix: string };
  };

  it('serves /healthz without a token', async () => {
    const res = await t.inject({ method: 'GET', url: '/healthz', token: null });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it.each([
    ['GET', '/api/v1/email/templates'],
    ['GET', '/api/v1/email/messages'],
    ['POST', '/api/v1/email/send'],
    ['GET', '/api/v1/keys'],
  ])('refuses %s %s without a token (401)', async (method, url) => {
    const res = await t.inject({
      method: method as 'GET',
      url,
      token: null,
      payload: method === 'POST' ? incidentExample() : undefined,
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('unauthorized');
  });

  it('refuses a malformed header, an unknown token and a forged one', async () => {
    for (const authorization of ['Basic abc', 'Bearer', 'Bearer pst_not-a-real-token', `Bearer ${'x'.repeat(5000)}`]) {
      const res = await t.inject({ method: 'GET', url: '/api/v1/email/templates', headers: { authorization } });
      expect(res.statusCode, authorization.slice(0, 30)).toBe(401);
    }
  });

  it('lets a send key send and list templates but not read the archive or manage keys', async () => {
    const { token } = await createKey('send');
    expect(
      (await t.inject({ method: 'POST', url: '/api/v1/email/send', token, payload: incidentExample() })).statusCode,
    ).toBe(201);
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/templates', token })).statusCode).toBe(200);
    expect(
      (await t.inject({ method: 'GET', url: '/api/v1/email/templates/incident_alert_critical', token })).statusCode,
    ).toBe(200);
    const forbidden = await t.inject({ method: 'GET', url: '/api/v1/email/messages', token });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().error.code).toBe('forbidden');
    expect(
      (await t.inject({ method: 'POST', url: '/api/v1/keys', token, payload: { name: 'x', scope: 'admin' } }))
        .statusCode,
    ).toBe(403);
  });

  it('lets an admin key do everything, and records which key sent a message', async () => {
    const { token, id } = await createKey('admin');
    const sent = await t.inject({ method: 'POST', url: '/api/v1/email/send', token, payload: incidentExample() });
    expect(sent.statusCode).toBe(201);
    const row = await t.services.db
      .selectFrom('email_messages')
      .select('api_key_id')
      .where('id', '=', sent.json().items[0].id)
      .executeTakeFirstOrThrow();
    expect(row.api_key_id).toBe(id);
    expect((await t.inject({ method: 'GET', url: '/api/v1/keys', token })).statusCode).toBe(200);
  });

  it('stores only a hash of each token', async () => {
    const { token, id } = await createKey('send');
    const row = await t.services.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.token_hash).toBe(hashToken(token));
    expect(JSON.stringify(row)).not.toContain(token);
    const listed = (await t.inject({ method: 'GET', url: '/api/v1/keys' })).json();
    expect(JSON.stringify(listed)).not.toContain(token);
    expect(listed.items.find((k: { id: string }) => k.id === id)).toMatchObject({
      scope: 'send',
      prefix: token.slice(0, 10),
      revoked_at: null,
    });
  });

  it('refuses a revoked key at once', async () => {
    const { token, id } = await createKey('send');
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/templates', token })).statusCode).toBe(200);
    const revoked = await t.inject({ method: 'DELETE', url: `/api/v1/keys/${id}` });
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().revoked_at).not.toBeNull();
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/templates', token })).statusCode).toBe(401);
  });

  it('answers 404 when revoking an unknown key', async () => {
    const res = await t.inject({ method: 'DELETE', url: '/api/v1/keys/nope' });
    expect(res.statusCode).toBe(404);
  });
});
