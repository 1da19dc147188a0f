import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { newTemplate } from './helpers/templates.js';
import { ensureWebBuilt } from './helpers/web-build.js';
import { launchBrowser, newPage, signedInAtFirstLoad } from './ui/browser.js';

// Code run in the page is passed as strings: this project's type-check has no DOM library.

/**
 * Stored content written by an attacker (a send key's raw message, a template's name and
 * subject, a webhook's URL) shown by the admin UI in a real Chromium: none of it may run a
 * script in the UI or in an email preview, nor make the browser fetch anything from elsewhere.
 * Every hostile payload points at `sink`, a server that counts what reaches it.
 */
describe('hostile stored content in the admin UI', () => {
  let t: TestContext;
  let browser: Browser;
  let base: string;
  let sink: Server;
  let sinkUrl: string;
  const hits: string[] = [];
  let messageId: string;

  beforeAll(async () => {
    await ensureWebBuilt();
    sink = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      res.end('');
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
    t = await createTestContext('sqlite');
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();

    const script = (tag: string) => `fetch('${sinkUrl}/${tag}');window.top.__pwned='${tag}'`;
    const html = [
      `<script>${script('script')}</script>`,
      `<img src="x" onerror="${script('onerror')}">`,
      `<img src="${sinkUrl}/remote-image">`,
      `<style>@import url('${sinkUrl}/css-import'); body { background: url('${sinkUrl}/css-bg'); }</style>`,
      `<link rel="stylesheet" href="${sinkUrl}/link-css">`,
      `<meta http-equiv="refresh" content="0;url=${sinkUrl}/meta-refresh">`,
      `<iframe src="${sinkUrl}/nested-frame"></iframe>`,
      `<object data="${sinkUrl}/object"></object>`,
      `<form action="${sinkUrl}/form" method="post"><button id="go">Pay</button></form>`,
      `<a id="link" href="${sinkUrl}/link">Track</a>`,
      `<a id="blank" href="${sinkUrl}/blank" target="_blank">Open</a>`,
      `<svg><script>${script('svg')}</script></svg>`,
      '<p id="marker">Hostile body</p>',
    ].join('\n');
    const subject = `<img src=x onerror="${script('subject')}"> Invoice`;
    const sent = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: {
        to: 'victim@example.com',
        from: '"<img src=x onerror=alert(1)>" <noreply@rgz.bj>',
        subject,
        html,
        tags: ['<script>alert(1)</script>'],
        metadata: { note: `<img src=x onerror="${script('metadata')}">` },
      },
    });
    expect(sent.statusCode, sent.body).toBe(201);
    messageId = sent.json().items[0].id;

    const created = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('hostile_tpl', {
        name: `<img src=x onerror="${script('template-name')}">`,
        html_content: `<p>Hello {{ name }}</p><img src="x" onerror="${script('template-html')}">`,
      }),
    });
    expect(created.statusCode, created.body).toBe(201);

    const hook = await t.inject({
      method: 'POST',
      url: '/api/v1/webhooks',
      payload: { url: `${sinkUrl}/hook?q=%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E`, event_types: ['sent'] },
    });
    expect(hook.statusCode, hook.body).toBe(201);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await new Promise<void>((r) => (sink ? sink.close(() => r()) : r()));
  });

  /** Visits `path` logged in, lets `act` click about, and reports what ran or went out. */
  const visit = async (path: string, act?: (page: Page) => Promise<void>) => {
    const p = await newPage(browser, base);
    const dialogs: string[] = [];
    p.page.on('dialog', (d) => dialogs.push(d.message()));
    const popups: string[] = [];
    p.page.on('popup', (w) => popups.push(w.url()));
    try {
      await signedInAtFirstLoad(p.page, base);
      await p.page.goto(`${base}/admin${path}`);
      // Signed in: the page shows what it lists, not the login form.
      await p.page.getByRole('button', { name: 'Log out' }).waitFor();
      await act?.(p.page);
      // Time for anything that would go out (a refresh, an image) to be attempted.
      await p.page.waitForTimeout(500);
      const pwned = await p.page.evaluate('window.__pwned ?? null');
      // What reached the sink is the truth: Chromium reports a request the CSP then blocks (a CSS
      // background) as a request, so the page's own list of external requests is not used here.
      return { pwned, dialogs, popups, url: p.page.url() };
    } finally {
      await p.close();
    }
  };

  it('shows the message page (subject, recipient, tags, metadata, HTML preview) without running or fetching anything', async () => {
    const r = await visit(`/messages/${messageId}`, async (page) => {
      const frame = page.frameLocator('iframe.email-frame');
      await frame.locator('#marker').waitFor();
      expect(await page.locator('h1, h2').first().textContent()).toBeTruthy();
      // Clicks inside the preview go nowhere.
      await frame.locator('#blank').click();
      await frame.locator('#go').click();
      // Last: a blocked navigation leaves the frame on an error page.
      await frame.locator('#link').click();
    });
    expect(r).toMatchObject({ pwned: null, dialogs: [], popups: [] });
    expect(r.url).toBe(`${base}/admin/messages/${messageId}`);
    expect(hits).toEqual([]);
  });

  it('lists messages, templates and webhooks with hostile names without running them', async () => {
    for (const path of [
      '/messages',
      '/templates',
      '/templates/hostile_tpl',
      '/settings',
      '/recipients/victim%40example.com',
    ]) {
      const r = await visit(path);
      expect(r, path).toMatchObject({ pwned: null, dialogs: [], popups: [] });
    }
    expect(hits).toEqual([]);
  });
});
