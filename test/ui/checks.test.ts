import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, serve } from '../../src/app/serve.js';
import { MASK } from '../../src/templates/index.js';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { waitForStatus } from '../helpers/delivery.js';
import { newTemplate } from '../helpers/templates.js';
import { hasSpamd, type Spamd, startSpamd } from '../support/spamd.js';
import { eventually, launchBrowser, seriousA11yViolations, shot, withLoggedInPage } from './browser.js';

const HTML = `<!DOCTYPE html><html><body>
  <div style="display:flex;gap:8px"><svg width="24" height="24"><circle cx="12" cy="12" r="10" fill="#06c"/></svg>
  <p>Your instance is ready. <a href="https://erp.example.com/login">Sign in</a></p></div>
</body></html>`;
const TOKEN = 'reset-7c1d2e3f-SECRET';

/**
 * The checks in a real Chromium against a real Postier in capture mode: the capture inbox's HTML
 * check names the clients that will not render an <svg> or display:flex; the message page shows
 * the archived message's HTML check, its links (a masked one stays masked) and, with a spamd
 * (Debian's, started here), its SpamAssassin score.
 */
describe('content checks in the admin UI', () => {
  let t: TestContext;
  let browser: Browser;
  let base: string;
  let running: Running;
  let spamd: Spamd | undefined;

  beforeAll(async () => {
    if (hasSpamd()) spamd = await startSpamd();
    t = await createTestContext('sqlite', {
      CAPTURE_SMTP_PORT: '0',
      WORKER_POLL_MS: '20',
      ...(spamd ? { SPAMD_ADDRESS: spamd.address } : {}),
    });
    running = await serve(t.services, { api: false, worker: true, retention: false });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await running?.stop();
    await t?.close();
    spamd?.stop();
  });

  const withPage = (fn: (page: Page) => Promise<void>) => withLoggedInPage(browser, base, fn);
  const send = async (payload: object) => {
    const res = await t.inject({ method: 'POST', url: '/api/v1/email/send', payload });
    expect(res.statusCode).toBe(201);
    const id = res.json().items[0].id as string;
    await waitForStatus(t, [id], ['captured']);
    return id;
  };
  const row = (page: Page, slug: string) => page.locator(`table.html-features tr[data-slug="${slug}"]`);
  /** The platforms of one family the row lists as lacking the feature. */
  const lacking = (page: Page, slug: string, family: string) =>
    row(page, slug)
      .locator('.check-clients li', { hasText: `${family}:` })
      .textContent();

  it('shows, for a captured mail with an <svg> and display:flex, those features and the clients that do not render them', async () => {
    await send({ to: 'html-check@example.com', subject: 'Flex and SVG', html: HTML, text: 'Ready' });
    const captured = (await t.inject({ method: 'GET', url: '/api/v1/dev/inbox?q=html-check' })).json().items[0].id;
    await withPage(async (page) => {
      await page.goto(`${base}/admin/inbox/${captured}`);
      await page.getByRole('tab', { name: 'HTML check' }).click();
      await row(page, 'html-svg').waitFor();
      expect(await page.locator('.html-check .badge').first().textContent()).toMatch(/^\d+(\.\d)?% supported$/);
      expect(await row(page, 'html-svg').textContent()).toContain('Embedded <svg> image');
      expect(await lacking(page, 'html-svg', 'Gmail')).toMatch(/Desktop Webmail.*iOS/);
      expect(await row(page, 'css-display-flex').textContent()).toContain('display:flex');
      expect(await lacking(page, 'css-display-flex', 'Outlook')).toContain('Windows');
      expect(await seriousA11yViolations(page)).toEqual([]);
      await shot(page, 'inbox-html-check');
    });
  });

  it("shows an archived message's HTML check and links on its page, a masked link masked", async () => {
    const created = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('ui_reset', {
        html_content:
          '<div style="display:flex"><svg width="8" height="8"></svg><a href="https://app.example.com/reset?t={{ token }}">Reset</a></div>',
        text_content: 'Reset',
        required_variables: ['name', 'token'],
        sensitive_variables: ['token'],
      }),
    });
    expect(created.statusCode).toBe(201);
    const id = await send({
      to: 'ui-reset@example.com',
      template_key: 'ui_reset',
      variables: { name: 'A', token: TOKEN },
    });
    await withPage(async (page) => {
      await page.goto(`${base}/admin/messages/${id}`);
      // Nothing is checked before the section is opened; then the HTML check, the first tab.
      await page.getByText('Checks: HTML, links, spam').click();
      await row(page, 'html-svg').waitFor();
      expect(await lacking(page, 'html-svg', 'Gmail')).toContain('Desktop Webmail');
      expect(await lacking(page, 'css-display-flex', 'Outlook')).toContain('Windows');
      await page.getByRole('tab', { name: 'Links' }).click();
      const links = page.locator('table.links');
      await links.waitFor();
      expect(await links.textContent()).toContain(`https://app.example.com/reset?t=${MASK}`);
      expect(await links.locator('.badge', { hasText: 'Masked' }).count()).toBe(1);
      expect(await page.locator('main').textContent()).not.toContain(TOKEN);
      await shot(page, 'message-links-check');
    });
  });

  it.skipIf(!hasSpamd())(
    "shows an archived message's SpamAssassin score on its page",
    async () => {
      const id = await send({
        to: 'ui-spam@example.com',
        subject: 'Invoice ready',
        html: HTML,
        text: 'Your invoice is ready.',
      });
      await withPage(async (page) => {
        await page.goto(`${base}/admin/messages/${id}`);
        await page.getByText('Checks: HTML, links, spam').click();
        await page.getByRole('tab', { name: 'Spam check' }).click();
        const spam = page.locator('.spam-check');
        await eventually(async () => spam.textContent()).toMatch(
          /SpamAssassin score -?\d+(\.\d+)? \(spam from \d+(\.\d+)?\)/,
        );
        expect(await spam.locator('table.spam-rules tbody tr').count()).toBeGreaterThan(0);
        await shot(page, 'message-spam-check');
      });
    },
    60_000,
  );
});
