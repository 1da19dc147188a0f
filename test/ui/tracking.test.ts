import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrackingToken, trackingKey } from '../../src/tracking/index.js';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { eventTypes, sendOk } from '../helpers/delivery.js';
import { eventually, launchBrowser, shot, withLoggedInPage } from './browser.js';

/** Opens and clicks in a real Chromium: the dashboard counts people only, the message shows both. */
describe('admin UI: opens and clicks', () => {
  let t: TestContext;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    t = await createTestContext('sqlite', { TRACK_OPENS: 'true', TRACK_CLICKS: 'true' });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('counts people on the dashboard, shows machines apart, and names each event on the message', async () => {
    const [id] = await sendOk(t, {
      to: 'reader@example.com',
      subject: 'Welcome',
      html: '<p><a href="https://app.example/start">Start</a></p>',
    });
    const key = trackingKey(t.config);
    const person = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0';
    const get = (url: string, ua: string) =>
      t.inject({ method: 'GET', url, token: null, headers: { 'user-agent': ua } });
    await get(`/t/o/${createTrackingToken(key, 'o', { messageId: id! })}`, person);
    await get(`/t/o/${createTrackingToken(key, 'o', { messageId: id! })}`, 'Mozilla/5.0');
    await get(
      `/t/c/${createTrackingToken(key, 'c', { messageId: id!, link: 0, url: 'https://app.example/start' })}`,
      person,
    );
    await eventually(async () => (await eventTypes(t, id!)).filter((e) => /open|click/.test(e)).length).toBe(3);

    await withLoggedInPage(browser, base, async (page) => {
      const card = page.locator('.engagement');
      await card.waitFor();
      expect(await card.textContent()).toContain('1 messages opened and 1 with a link followed, by people.');
      expect(await card.textContent()).toContain('Not counted: 1 image loads and 0 link checks by machines');
      await shot(page, 'dashboard-engagement');
      await page.goto(`${base}/admin/messages/${id}`);
      const timeline = page.locator('.timeline');
      await timeline.waitFor();
      await eventually(async () => (await timeline.textContent()) ?? '').toContain('Link followed');
      const text = (await timeline.textContent()) ?? '';
      expect(text).toContain('Opened');
      expect(text).toContain('Image fetched by a machine (not counted)');
      expect(text).toContain('apple_mail_privacy');
    });
  });
});
