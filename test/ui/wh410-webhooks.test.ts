import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { eventually, launchBrowser, seriousA11yViolations, shot, withLoggedInPage } from './browser.js';

/**
 * The webhooks page of an endpoint Postier paused because it answered 410 Gone, in a real
 * Chromium, the dispatcher running in the background and a real receiver on a local port.
 */
describe('admin UI: a webhook endpoint paused by a 410 Gone', () => {
  let t: TestContext;
  let browser: Browser;
  let base: string;
  let hooks: Server;
  let hookUrl: string;
  let answer = 410;
  const answered: number[] = [];

  beforeAll(async () => {
    t = await createTestContext('sqlite', { WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_SECONDS: '0.05' });
    hooks = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        answered.push(answer);
        res.statusCode = answer;
        res.end();
      });
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hooks/gone`;
    t.services.webhooks.start();
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.services.webhooks.stop();
    await new Promise((resolve) => hooks?.close(resolve));
    await t?.close();
  });

  it('shows why it was paused next to "Paused", and resuming clears it and delivers what waited', async () => {
    const ep = (
      await t.inject({ method: 'POST', url: '/api/v1/webhooks', payload: { url: hookUrl, event_types: ['sent'] } })
    ).json() as { id: string };
    await withLoggedInPage(browser, base, async (page) => {
      await page.goto(`${base}/admin/settings/webhooks`);
      const card = page.locator('.card.webhook').first();
      await card.getByText('Active', { exact: true }).waitFor();
      expect(await card.locator('.paused-reason').count()).toBe(0);

      // The test event meets the 410: the endpoint is paused by the dispatcher, not by the operator.
      await card.getByRole('button', { name: 'Send test event' }).click();
      await eventually(async () =>
        (await t.inject({ method: 'GET', url: `/api/v1/webhooks/${ep.id}` })).json(),
      ).toEqual(expect.objectContaining({ is_active: false, paused_reason: expect.stringMatching(/^HTTP 410 Gone/) }));
      await page.reload();
      await card.getByText('Paused', { exact: true }).waitFor();
      const reason = card.locator('.paused-reason');
      expect(await reason.textContent()).toMatch(/by Postier: HTTP 410 Gone at \d{4}-\d\d-\d\dT/);
      await card.getByText('The endpoint answered 410 Gone').waitFor();
      expect(await card.getByRole('button', { name: 'Send test event' }).isDisabled()).toBe(true);
      expect(await seriousA11yViolations(page)).toEqual([]);
      await shot(page, 'webhooks-paused-gone');

      // Fixed on the receiving side, then resumed: the reason goes, the waiting delivery goes out.
      answer = 200;
      await card.getByRole('button', { name: 'Resume' }).click();
      await card.getByText('Active', { exact: true }).waitFor();
      expect(await card.locator('.paused-reason').count()).toBe(0);
      await eventually(() => answered).toEqual([410, 200]);
      await card.getByText('Recent deliveries').click();
      await eventually(async () => {
        await card.getByRole('button', { name: 'Refresh' }).click();
        return card.locator('tbody').textContent();
      }).toContain('Delivered');
    });
  });
});
