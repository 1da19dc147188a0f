import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_CSP } from '../src/http/admin-ui.js';
import { DEFAULT_CSP } from '../src/http/app.js';
import { createUnsubscribeToken } from '../src/unsubscribe/token.js';
import { ADMIN_TOKEN, createTestContext, type TestContext } from './helpers/context.js';
import { ensureWebBuilt } from './helpers/web-build.js';
import { launchBrowser } from './ui/browser.js';

// Code run in the page is passed as strings: this project's type-check has no DOM library.

/**
 * Security headers of what the server answers, read over real HTTP: every answer is nosniff and
 * may not be framed by another site; the API and the public pages (same origin as the admin UI)
 * may load nothing. A real Chromium checks the unsubscribe page still works under its policy and
 * cannot be framed by another origin.
 */
describe('response security headers', () => {
  let t: TestContext;
  let base: string;
  let browser: Browser;
  let other: Server;
  let otherUrl: string;
  let unsubscribePath: string;

  beforeAll(async () => {
    await ensureWebBuilt();
    t = await createTestContext('sqlite');
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    unsubscribePath = `/u/${createUnsubscribeToken(t.services.unsubscribeKey, { email: 'reader@example.com', cls: 'marketing', locale: 'en' })}`;
    // Another origin (another port) framing Postier's pages.
    other = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><iframe id="f" src="${base}${unsubscribePath}"></iframe>`);
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}/`;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await new Promise<void>((r) => (other ? other.close(() => r()) : r()));
  });

  const headersOf = async (path: string, init: RequestInit = {}) => (await fetch(`${base}${path}`, init)).headers;

  it('gives the API, its errors and the public pages nosniff and a policy that loads nothing and forbids framing', async () => {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    for (const [path, init] of [
      ['/api/v1/email/templates', { headers: auth }],
      ['/api/v1/email/templates', {}], // 401
      ['/api/v1/nowhere', { headers: auth }], // 404
      ['/healthz', {}],
      ['/metrics', {}],
      [unsubscribePath, {}],
      ['/u/not-a-token', {}],
    ] as const) {
      const h = await headersOf(path, init);
      expect(h.get('x-content-type-options'), path).toBe('nosniff');
      expect(h.get('content-security-policy'), path).toBe(DEFAULT_CSP);
    }
    expect(DEFAULT_CSP).toContain("default-src 'none'");
    expect(DEFAULT_CSP).toContain("frame-ancestors 'none'");
    expect(DEFAULT_CSP).not.toContain('script-src');
  });

  it('keeps the admin UI and /docs on their own policies, the admin UI with X-Frame-Options too', async () => {
    const admin = await headersOf('/admin/');
    expect(admin.get('content-security-policy')).toBe(ADMIN_CSP);
    expect(admin.get('x-frame-options')).toBe('DENY');
    expect(admin.get('x-content-type-options')).toBe('nosniff');
    expect(admin.get('referrer-policy')).toBe('no-referrer');
    const docs = await headersOf('/docs/');
    expect(docs.get('content-security-policy')).toContain("script-src 'self'");
    expect(docs.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers no cross-origin request: no CORS headers, a preflight is refused', async () => {
    const res = await fetch(`${base}/api/v1/email/send`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const get = await headersOf('/api/v1/email/templates', {
      headers: { origin: 'https://evil.example', authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(get.get('access-control-allow-origin')).toBeNull();
  });

  it('serves a working unsubscribe page that another site cannot frame', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${base}${unsubscribePath}`);
      // Its inline style applies under the policy, and its form posts.
      expect(await page.evaluate('getComputedStyle(document.body).maxWidth')).toBe('512px');
      await page.getByRole('button').click();
      await page.waitForLoadState();
      expect(await page.textContent('body')).toContain('reader@example.com will no longer receive');
      // Framed by another origin: the frame stays empty.
      await page.goto(otherUrl);
      await page.waitForTimeout(500);
      const frame = page.frames().find((f) => f !== page.mainFrame());
      const text = await frame?.evaluate('document.body ? document.body.innerText : ""').catch(() => '');
      expect(String(text ?? '')).not.toContain('Stop receiving');
    } finally {
      await context.close();
    }
  });
});
