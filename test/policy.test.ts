import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';

const cutover = (to: string, extra: object = {}) => ({
  to,
  template_key: 'cutover_reminder',
  variables: {
    reseller_name: 'Tech Connect SA',
    items_done: 32,
    items_total: 40,
    link_portal: 'https://admin-rgz.duckdns.org',
  },
  ...extra,
});

describe.each(backends)('sending policy on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, {
      EMAIL_SUPPRESSION_BYPASS_CATEGORIES: 'incident',
      EMAIL_RATE_LIMIT_MARKETING: '2/day',
      PUBLIC_URL: 'https://mail.rgz.bj',
    });
  });
  afterAll(() => t.close());

  const send = (payload: object, headers: Record<string, string> = {}) =>
    t.inject({ method: 'POST', url: '/api/v1/email/send', payload, headers });
  const message = async (id: string) => (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json();

  describe('suppression list', () => {
    it('adds, lists with a filter and pages, and lifts suppressions through the admin API', async () => {
      for (const email of ['s1@example.com', 'S2@Example.com', 's3@example.com']) {
        const res = await t.inject({
          method: 'POST',
          url: '/api/v1/email/suppressions',
          payload: { email, details: 'asked by phone' },
        });
        expect(res.statusCode).toBe(201);
      }
      const dup = await t.inject({
        method: 'POST',
        url: '/api/v1/email/suppressions',
        payload: { email: 's1@example.com' },
      });
      expect(dup.statusCode).toBe(200);
      const one = (await t.inject({ method: 'GET', url: '/api/v1/email/suppressions?email=s2@EXAMPLE.com' })).json();
      expect(one.items).toEqual([
        expect.objectContaining({ email: 's2@example.com', scope: 'all', reason: 'manual', source: 'api' }),
      ]);
      const p1 = (await t.inject({ method: 'GET', url: '/api/v1/email/suppressions?limit=2' })).json();
      expect(p1.items).toHaveLength(2);
      const p2 = (
        await t.inject({ method: 'GET', url: `/api/v1/email/suppressions?limit=2&cursor=${p1.next_cursor}` })
      ).json();
      expect(
        [...p1.items, ...p2.items]
          .map((s: { email: string }) => s.email)
          .filter((e: string) => /^s\d@/.test(e))
          .sort(),
      ).toEqual(['s1@example.com', 's2@example.com', 's3@example.com']);

      expect(
        (await t.inject({ method: 'DELETE', url: `/api/v1/email/suppressions/${one.items[0].id}` })).statusCode,
      ).toBe(204);
      expect(
        (await t.inject({ method: 'DELETE', url: '/api/v1/email/suppressions?email=s3@example.com' })).json(),
      ).toEqual({ deleted: 1 });
      const gone = await t.inject({ method: 'DELETE', url: '/api/v1/email/suppressions?email=s3@example.com' });
      expect(gone.statusCode).toBe(404);
      expect(gone.json().error.code).toBe('suppression_not_found');
    });

    it('refuses a bad address and non-admin callers', async () => {
      const bad = await t.inject({
        method: 'POST',
        url: '/api/v1/email/suppressions',
        payload: { email: 'not an address' },
      });
      expect(bad.statusCode).toBe(422);
      const { token } = await t.services.apiKeys.create('sender', 'send', null);
      expect((await t.inject({ method: 'GET', url: '/api/v1/email/suppressions', token })).statusCode).toBe(403);
    });

    it('stores a send to a suppressed address as suppressed, not queued; lifting it lets mail through again', async () => {
      await t.inject({ method: 'POST', url: '/api/v1/email/suppressions', payload: { email: 'gone@example.com' } });
      const res = await send({ ...cutover('Gone@EXAMPLE.com') });
      expect(res.statusCode).toBe(201);
      const item = res.json().items[0];
      expect(item.status).toBe('suppressed');
      const msg = await message(item.id);
      expect(msg.next_attempt_at).toBeNull();
      expect(msg.error_message).toContain('suppressed (manual)');
      expect(msg.events.map((e: { type: string }) => e.type)).toEqual(['suppressed']);
      await t.inject({ method: 'DELETE', url: '/api/v1/email/suppressions?email=gone@example.com' });
      expect((await send(cutover('gone@example.com'))).json().items[0].status).toBe('queued');
    });

    it('lets bypass categories through a suppression, but never through an unsubscribe from their class', async () => {
      await t.inject({ method: 'POST', url: '/api/v1/email/suppressions', payload: { email: 'noc@example.com' } });
      expect((await send({ ...incidentExample(), to: 'noc@example.com' })).json().items[0].status).toBe('queued');
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/suppressions',
        payload: { email: 'noc2@example.com', scope: 'transactional' },
      });
      expect((await send({ ...incidentExample(), to: 'noc2@example.com' })).json().items[0].status).toBe('suppressed');
    });

    it('a class-scoped suppression leaves other classes flowing', async () => {
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/suppressions',
        payload: { email: 'mk@example.com', scope: 'marketing' },
      });
      expect((await send(cutover('mk@example.com'))).json().items[0].status).toBe('suppressed');
      expect((await send({ ...incidentExample(), to: 'mk@example.com' })).json().items[0].status).toBe('queued');
    });
  });

  describe('rate limits', () => {
    it('accepts marketing mail up to the limit per recipient, then records rate_limited and says so per recipient', async () => {
      expect((await send(cutover('rl@example.com'))).json().items[0].status).toBe('queued');
      expect((await send(cutover('rl@example.com'))).json().items[0].status).toBe('queued');
      const res = await send(cutover('rl@example.com, other-rl@example.com'));
      expect(res.statusCode).toBe(201);
      expect(res.json().items.map((i: { to: string; status: string }) => [i.to, i.status])).toEqual([
        ['rl@example.com', 'rate_limited'],
        ['other-rl@example.com', 'queued'],
      ]);
      const msg = await message(res.json().items[0].id);
      expect(msg).toMatchObject({ status: 'rate_limited', error_message: expect.stringContaining('2 per day') });
    });

    it('does not count refused, suppressed or cancelled messages against the allowance', async () => {
      const first = (
        await send(cutover('rl2@example.com', { send_at: new Date(Date.now() + 3_600_000).toISOString() }))
      ).json().items[0];
      expect((await t.inject({ method: 'DELETE', url: `/api/v1/email/messages/${first.id}` })).statusCode).toBe(200);
      expect((await send(cutover('rl2@example.com'))).json().items[0].status).toBe('queued');
      expect((await send(cutover('rl2@example.com'))).json().items[0].status).toBe('queued');
      expect((await send(cutover('rl2@example.com'))).json().items[0].status).toBe('rate_limited');
    });

    it('leaves transactional mail unlimited', async () => {
      for (let i = 0; i < 5; i++)
        expect((await send({ ...incidentExample(), to: 'tx@example.com' })).json().items[0].status).toBe('queued');
    });

    it('is exact under concurrent requests in one process', async () => {
      const results = await Promise.all(Array.from({ length: 8 }, () => send(cutover('burst@example.com'))));
      const statuses = results.map((r) => r.json().items[0].status);
      expect(statuses.filter((s) => s === 'queued')).toHaveLength(2);
      expect(statuses.filter((s) => s === 'rate_limited')).toHaveLength(6);
    });
  });

  describe('scheduled send and cancel', () => {
    it('holds a message as scheduled until send_at and cancels it while scheduled, once', async () => {
      const at = new Date(Date.now() + 2 * 86_400_000);
      const res = await send({ ...incidentExample(), to: 'later@example.com', send_at: at.toISOString() });
      expect(res.statusCode).toBe(201);
      const id = res.json().items[0].id;
      expect(res.json().items[0].status).toBe('scheduled');
      expect(await message(id)).toMatchObject({ status: 'scheduled', next_attempt_at: at.toISOString() });
      const del = await t.inject({ method: 'DELETE', url: `/api/v1/email/messages/${id}` });
      expect(del.statusCode).toBe(200);
      expect(del.json()).toMatchObject({ id, status: 'cancelled' });
      const msg = await message(id);
      expect(msg).toMatchObject({ status: 'cancelled', next_attempt_at: null });
      expect(msg.events.map((e: { type: string }) => e.type)).toEqual(['scheduled', 'cancelled']);
      const again = await t.inject({ method: 'DELETE', url: `/api/v1/email/messages/${id}` });
      expect(again.statusCode).toBe(409);
      expect(again.json().error).toMatchObject({ code: 'invalid_state', details: { status: 'cancelled' } });
    });

    it('refuses to cancel a message already sent, and an unknown one', async () => {
      const id = (await send({ ...incidentExample(), to: 'sent@example.com' })).json().items[0].id;
      await t.services.db.updateTable('email_messages').set({ status: 'sent' }).where('id', '=', id).execute();
      expect((await t.inject({ method: 'DELETE', url: `/api/v1/email/messages/${id}` })).json().error.code).toBe(
        'invalid_state',
      );
      expect(
        (
          await t.services.db
            .selectFrom('email_messages')
            .select('status')
            .where('id', '=', id)
            .executeTakeFirstOrThrow()
        ).status,
      ).toBe('sent');
      const unknown = await t.inject({
        method: 'DELETE',
        url: '/api/v1/email/messages/01900000-0000-7000-8000-000000000000',
      });
      expect(unknown.statusCode).toBe(404);
    });

    it('lets a send key cancel only its own messages', async () => {
      const a = await t.services.apiKeys.create('a', 'send', null);
      const b = await t.services.apiKeys.create('b', 'send', null);
      const id = (
        await t.inject({
          method: 'POST',
          url: '/api/v1/email/send',
          token: a.token,
          payload: {
            ...incidentExample(),
            to: 'own@example.com',
            send_at: new Date(Date.now() + 60_000).toISOString(),
          },
        })
      ).json().items[0].id;
      expect(
        (await t.inject({ method: 'DELETE', url: `/api/v1/email/messages/${id}`, token: b.token })).statusCode,
      ).toBe(404);
      expect(
        (await t.inject({ method: 'DELETE', url: `/api/v1/email/messages/${id}`, token: a.token })).statusCode,
      ).toBe(200);
    });

    it.each([
      ['more than 30 days ahead', () => new Date(Date.now() + 31 * 86_400_000).toISOString(), 422],
      ['in the past', () => new Date(Date.now() - 5 * 60_000).toISOString(), 422],
      ['without a time zone', () => '2030-01-01T10:00:00', 400],
      ['not a date', () => 'tomorrow', 400],
    ])('refuses send_at %s', async (_what, value, status) => {
      const res = await send({ ...incidentExample(), to: 'x@example.com', send_at: value() });
      expect(res.statusCode).toBe(status);
    });

    it('accepts a send_at a few seconds in the past (clock drift) as now', async () => {
      const res = await send({
        ...incidentExample(),
        to: 'drift@example.com',
        send_at: new Date(Date.now() - 10_000).toISOString(),
      });
      expect(res.statusCode).toBe(201);
      expect(res.json().items[0].status).toBe('queued');
    });
  });
});
