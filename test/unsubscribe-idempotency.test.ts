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

describe.each(backends)('unsubscribe and idempotency on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, {
      PUBLIC_URL: 'https://mail.rgz.bj',
      EMAIL_RATE_LIMIT_MARKETING: 'unlimited',
    });
  });
  afterAll(() => t.close());

  const send = (payload: object, headers: Record<string, string> = {}, token?: string) =>
    t.inject({ method: 'POST', url: '/api/v1/email/send', payload, headers, ...(token ? { token } : {}) });
  const headersOf = async (id: string) => {
    const row = await t.services.db
      .selectFrom('email_messages')
      .select('headers')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    return row.headers ? (JSON.parse(row.headers) as Record<string, string>) : null;
  };

  describe('unsubscribe', () => {
    async function unsubscribeLink(to: string, locale?: string) {
      const id = (await send(cutover(to, locale ? { locale } : {}))).json().items[0].id;
      const h = (await headersOf(id))!;
      const m = /^<https:\/\/mail\.rgz\.bj(\/u\/[^>]+)>, <mailto:support@rgz\.bj\?subject=unsubscribe%20[^>]+>$/.exec(
        h['List-Unsubscribe']!,
      );
      expect(m, h['List-Unsubscribe']).not.toBeNull();
      return m![1]!;
    }

    it('puts RFC 8058 one-click headers on marketing mail only', async () => {
      const id = (await send(cutover('reader@example.com'))).json().items[0].id;
      const h = await headersOf(id);
      expect(h).toMatchObject({
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'List-Unsubscribe': expect.stringContaining('https://mail.rgz.bj/u/'),
      });
      const tx = (await send({ ...incidentExample(), to: 'reader@example.com' })).json().items[0].id;
      expect(await headersOf(tx)).toBeNull();
    });

    it('one-click POST suppresses the address for marketing only, without a bearer token', async () => {
      const link = await unsubscribeLink('oneclick@example.com');
      const res = await t.inject({
        method: 'POST',
        url: link,
        token: null,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'List-Unsubscribe=One-Click',
      });
      expect(res.statusCode).toBe(200);
      const s = (await t.inject({ method: 'GET', url: '/api/v1/email/suppressions?email=oneclick@example.com' })).json()
        .items;
      expect(s).toEqual([
        expect.objectContaining({
          scope: 'marketing',
          reason: 'unsubscribe',
          source: 'unsubscribe_link',
          details: 'one-click',
        }),
      ]);
      expect((await send(cutover('oneclick@example.com'))).json().items[0].status).toBe('suppressed');
      expect((await send({ ...incidentExample(), to: 'oneclick@example.com' })).json().items[0].status).toBe('queued');
    });

    it('GET shows a confirmation page in the message language and changes nothing; its form POST confirms', async () => {
      const link = await unsubscribeLink('page@example.com');
      const page = await t.inject({ method: 'GET', url: link, token: null });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toContain('text/html');
      expect(page.body).toContain('lang="fr"');
      expect(page.body).toContain('Me désabonner');
      // Relative to the page, so that it posts back to the link however PUBLIC_URL's path prefixes it.
      const action = /action="([^"]*)"/.exec(page.body)![1]!;
      expect(action).toMatch(/^\.\/[^/]+$/);
      expect(new URL(action, `https://mail.example.com/postier${link}`).pathname).toBe(`/postier${link}`);
      expect(new URL(action, `http://127.0.0.1${link}?lang=en`).pathname).toBe(link);
      expect(
        (await t.inject({ method: 'GET', url: '/api/v1/email/suppressions?email=page@example.com' })).json().items,
      ).toEqual([]);
      const en = await t.inject({ method: 'GET', url: `${link}?lang=en`, token: null });
      expect(en.body).toContain('lang="en"');
      expect(en.body).toContain('Unsubscribe</button>');

      const done = await t.inject({
        method: 'POST',
        url: link,
        token: null,
        headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'confirm=1',
      });
      expect(done.statusCode).toBe(200);
      expect(done.body).toContain('page@example.com ne recevra plus');
      expect(
        (await t.inject({ method: 'GET', url: '/api/v1/email/suppressions?email=page@example.com' })).json().items,
      ).toHaveLength(1);
    });

    it('refuses a tampered token', async () => {
      const link = await unsubscribeLink('victim@example.com');
      const [payload, mac] = link.slice(3).split('.');
      const forged = Buffer.from(JSON.stringify({ e: 'someone-else@example.com', c: 'marketing', l: 'fr' })).toString(
        'base64url',
      );
      for (const url of [`/u/${forged}.${mac}`, `/u/${payload}.${'A'.repeat(22)}`, '/u/garbage']) {
        const res = await t.inject({
          method: 'POST',
          url,
          token: null,
          payload: 'List-Unsubscribe=One-Click',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        expect(res.statusCode).toBe(404);
        expect(res.json().error.code).toBe('invalid_unsubscribe_token');
        expect((await t.inject({ method: 'GET', url, token: null })).statusCode).toBe(404);
      }
      expect(
        (await t.inject({ method: 'GET', url: '/api/v1/email/suppressions?email=someone-else@example.com' })).json()
          .items,
      ).toEqual([]);
    });
  });

  describe('Idempotency-Key', () => {
    const count = async (to: string) =>
      Number(
        (
          await t.services.db
            .selectFrom('email_messages')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('recipient_email', '=', to)
            .executeTakeFirstOrThrow()
        ).n,
      );

    it('replays the original response for the same body, with keys in any order', async () => {
      const body = { ...incidentExample(), to: 'idem1@example.com' };
      const first = await send(body, { 'idempotency-key': 'order-42' });
      expect(first.statusCode).toBe(201);
      expect(first.headers['idempotent-replayed']).toBe('false');
      const reordered = Object.fromEntries(Object.entries(body).reverse());
      const second = await send(reordered, { 'idempotency-key': 'order-42' });
      expect(second.statusCode).toBe(201);
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(second.json()).toEqual(first.json());
      expect(await count('idem1@example.com')).toBe(1);
    });

    it('answers 409 idempotency_conflict for a different body with the same key', async () => {
      await send({ ...incidentExample(), to: 'idem2@example.com' }, { 'idempotency-key': 'k-conflict' });
      const res = await send({ ...incidentExample(), to: 'idem3@example.com' }, { 'idempotency-key': 'k-conflict' });
      expect(res.statusCode).toBe(409);
      expect(res.json().error.code).toBe('idempotency_conflict');
      expect(await count('idem3@example.com')).toBe(0);
    });

    it('creates one set of messages for concurrent requests with one key; all get the same answer', async () => {
      const body = { ...incidentExample(), to: 'idem4@example.com,idem5@example.com' };
      const results = await Promise.all(Array.from({ length: 6 }, () => send(body, { 'idempotency-key': 'k-race' })));
      expect(results.map((r) => r.statusCode)).toEqual(Array(6).fill(201));
      expect(new Set(results.map((r) => r.body)).size).toBe(1);
      expect(results.filter((r) => r.headers['idempotent-replayed'] === 'false')).toHaveLength(1);
      expect(await count('idem4@example.com')).toBe(1);
      expect(await count('idem5@example.com')).toBe(1);
    });

    it('scopes keys per API key, and forgets them after 24 hours', async () => {
      const a = await t.services.apiKeys.create('a', 'send', null);
      const b = await t.services.apiKeys.create('b', 'send', null);
      const body = { ...incidentExample(), to: 'idem6@example.com' };
      const ra = await send(body, { 'idempotency-key': 'shared' }, a.token);
      const rb = await send(body, { 'idempotency-key': 'shared' }, b.token);
      expect(ra.json().items[0].id).not.toBe(rb.json().items[0].id);
      await t.services.db
        .updateTable('idempotency_keys')
        .set({ expires_at: Date.now() - 1 })
        .where('key', '=', 'shared')
        .execute();
      const later = await send({ ...body, to: 'idem7@example.com' }, { 'idempotency-key': 'shared' }, a.token);
      expect(later.statusCode).toBe(201);
      expect(later.headers['idempotent-replayed']).toBe('false');
    });

    it('does not store failures: a fixed request may reuse the key', async () => {
      const bad = await send(
        { ...incidentExample(), to: 'idem8@example.com', variables: {} },
        { 'idempotency-key': 'k-fix' },
      );
      expect(bad.statusCode).toBe(422);
      const good = await send({ ...incidentExample(), to: 'idem8@example.com' }, { 'idempotency-key': 'k-fix' });
      expect(good.statusCode).toBe(201);
    });

    it('refuses a malformed key', async () => {
      const res = await send({ ...incidentExample(), to: 'idem9@example.com' }, { 'idempotency-key': 'has space' });
      expect(res.statusCode).toBe(400);
    });
  });
});
