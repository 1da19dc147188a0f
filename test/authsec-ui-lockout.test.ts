import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from './helpers/context.js';
import { ensureWebBuilt } from './helpers/web-build.js';
import { launchBrowser, login, newPage } from './ui/browser.js';

/**
 * The sign-in page of a client locked out after wrong tokens (TRUST_PROXY=none: the browser on
 * loopback is counted by its own address) says so, in the UI's language, with the time left,
 * instead of the server's English message.
 */
describe('admin UI sign-in after too many wrong tokens', () => {
  let t: TestContext;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    await ensureWebBuilt();
    t = await createTestContext('sqlite', {
      TRUST_PROXY: 'none',
      API_AUTH_MAX_FAILURES: '2',
      API_AUTH_LOCKOUT_SECONDS: '900',
    });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('says sign-in is refused, even with the right token, and for how long', async () => {
    const p = await newPage(browser, base, { allowedStatuses: [429] });
    try {
      const alert = () => p.page.getByRole('alert').textContent();
      await login(p.page, base, 'wrong-token-1');
      await expect.poll(alert).toContain('unknown or revoked');
      await login(p.page, base, 'wrong-token-2');
      await expect.poll(alert).toContain('unknown or revoked');
      await login(p.page, base);
      await expect.poll(alert).toContain('Too many wrong tokens from this address');
      expect(await alert()).toContain('for 15 more minutes');
      expect(p.problems).toEqual([]);
    } finally {
      await p.close();
    }
  });
});
