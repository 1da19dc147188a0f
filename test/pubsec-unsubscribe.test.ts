import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Sqlite from '../src/platform/db/better-sqlite3.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUnsubscribeToken } from '../src/unsubscribe/token.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';

/**
 * The public unsubscribe link as outside eyes try it, over real HTTP on both databases: a GET
 * never unsubscribes (mail scanners prefetch links), odd queries and hostile claims never give a
 * 500 or unescaped HTML, and tokens that do not verify act on no one.
 */
describe.each(backends)('unsubscribe link from outside on %s', (backend) => {
  let t: TestContext;
  let base: string;
  const link = (email: string, cls = 'marketing', locale = 'fr') =>
    `/u/${createUnsubscribeToken(t.services.unsubscribeKey, { email, cls, locale })}`;
  const suppressions = async (email: string) =>
    (await t.inject({ method: 'GET', url: `/api/v1/email/suppressions?email=${encodeURIComponent(email)}` })).json()
      .items as Array<{ scope: string; details: string }>;

  beforeAll(async () => {
    t = await createTestContext(backend, { PUBLIC_URL: 'https://mail.rgz.bj', DB_LOCK_WAIT_SECONDS: '1' });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  afterAll(() => t.close());

  it('answers a lang given twice or as an object with the page, not a 500', async () => {
    const good = link('lang@example.com');
    for (const query of ['?lang=en&lang=fr', '?lang[]=en', '?lang[a]=en', '?lang=', `?lang=${'x'.repeat(3000)}`]) {
      const page = await fetch(`${base}${good}${query}`);
      expect(page.status, query).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('<form method="post"');
      const bad = await fetch(`${base}/u/not.a-token${query}`);
      expect(bad.status, query).toBe(404);
      expect(await bad.text()).toContain('lang="fr"');
    }
    // One string still chooses the language.
    expect(await (await fetch(`${base}${good}?lang=en`)).text()).toContain('lang="en"');
    expect(await suppressions('lang@example.com')).toEqual([]);
  });

  it('keeps the token out of Referer and caches, and changes nothing on GET or HEAD', async () => {
    const url = link('prefetch@example.com');
    for (const method of ['GET', 'HEAD', 'GET']) {
      const res = await fetch(`${base}${url}`, {
        method,
        headers: { 'user-agent': 'Mozilla/5.0 (compatible; Barracuda)' },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    }
    expect(await suppressions('prefetch@example.com')).toEqual([]);
    const done = await fetch(`${base}${url}`, {
      method: 'POST',
      headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'confirm=1',
    });
    expect(done.status).toBe(200);
    expect(done.headers.get('referrer-policy')).toBe('no-referrer');
    expect(done.headers.get('cache-control')).toBe('no-store');
    expect(await suppressions('prefetch@example.com')).toHaveLength(1);
  });

  it('escapes a hostile address and class, and takes a one-click POST as multipart', async () => {
    const email = `"<script>alert(1)</script>'&"@example.com`;
    const url = link(email, 'x"><img src=x onerror=alert(1)>');
    const body = await (await fetch(`${base}${url}?lang=en`)).text();
    expect(body).not.toContain('<script>');
    expect(body).not.toContain('<img');
    expect(body).toContain('&#60;script&#62;');
    const form = new FormData();
    form.set('List-Unsubscribe', 'One-Click');
    const res = await fetch(`${base}${link('multipart@example.com')}`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    expect(await suppressions('multipart@example.com')).toEqual([
      expect.objectContaining({ scope: 'marketing', details: 'one-click' }),
    ]);
  });

  it('answers a link posted again without writing: it neither waits for nor takes the write lock', async () => {
    const url = link('again@example.com');
    const oneClick = () =>
      fetch(`${base}${url}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
        signal: AbortSignal.timeout(15_000),
      });
    expect((await oneClick()).status).toBe(200);
    // Another writer holds the lock (senders, the worker): replays of the link are still answered.
    let release: () => Promise<void>;
    if (backend === 'sqlite') {
      const other = new Sqlite(path.join(t.dir, 'postier.db'));
      other.exec('BEGIN IMMEDIATE');
      release = async () => {
        other.exec('COMMIT');
        other.close();
      };
    } else {
      const other = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await other.connect();
      await other.query('BEGIN');
      await other.query(`LOCK TABLE "${t.schema}".email_suppressions IN EXCLUSIVE MODE`);
      release = async () => {
        await other.query('COMMIT');
        await other.end();
      };
    }
    try {
      const replays = await Promise.all(Array.from({ length: 20 }, oneClick));
      expect(replays.map((r) => r.status)).toEqual(Array(20).fill(200));
    } finally {
      await release();
    }
    expect(await suppressions('again@example.com')).toHaveLength(1);
  });

  it('refuses a body over 64 KiB with a 413 in the API shape, and unsubscribes no one for it', async () => {
    const res = await fetch(`${base}${link('big@example.com')}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'List-Unsubscribe=One-Click&'.padEnd(70_000, 'x'),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    expect(await suppressions('big@example.com')).toEqual([]);
  });

  it('acts on no one for a token forged, truncated, altered, of another installation, or far too long', async () => {
    const url = link('target@example.com');
    const token = url.slice(3);
    const [payload, mac] = token.split('.') as [string, string];
    const other = createUnsubscribeToken(Buffer.alloc(32, 9), {
      email: 'target@example.com',
      cls: 'marketing',
      locale: 'fr',
    });
    const tries = [
      other,
      token.slice(0, -1),
      `${payload}.${mac.slice(0, -1)}B`,
      `${payload.slice(0, -2)}.${mac}`,
      `${payload}=.${mac}`,
      `${payload}.${mac}.`,
      `${payload}%2E${mac}x`,
      `${'A'.repeat(5000)}.${mac}`,
      `${'A'.repeat(12_200)}.${mac}`,
      '%E2%80%AE',
    ];
    for (const tok of tries) {
      for (const method of ['GET', 'POST']) {
        const res = await fetch(`${base}/u/${tok}`, {
          method,
          ...(method === 'POST'
            ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' }
            : {}),
        });
        expect(res.status, `${method} ${tok.slice(0, 40)}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${method} ${tok.slice(0, 40)}`).toBeLessThan(500);
      }
    }
    expect(await suppressions('target@example.com')).toEqual([]);
  });
});
