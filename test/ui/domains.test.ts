import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dkimPublicKey } from '../../src/domains/index.js';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { DnsServer } from '../support/dns-server.js';
import { eventually, launchBrowser, shot, withLoggedInPage } from './browser.js';

/** The Domains page in a real Chromium, its DNS answered by a real DNS server in the test process. */
describe('admin UI: sending domains', () => {
  let t: TestContext;
  let dns: DnsServer;
  let browser: Browser;
  let base: string;
  let dir: string;
  let publicKey: string;

  beforeAll(async () => {
    dns = await DnsServer.start();
    dir = mkdtempSync(path.join(tmpdir(), 'postier-dkim-'));
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
    publicKey = dkimPublicKey(key);
    writeFileSync(path.join(dir, 'key.pem'), key);
    t = await createTestContext('sqlite', {
      SMTP_FROM_EMAIL: 'noreply@isp.example',
      DKIM_KEYS: `isp.example:mail2026:${path.join(dir, 'key.pem')}`,
      DNS_SERVERS: dns.address,
    });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await dns?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows what to publish, checks on demand, and turns verified once the records are right', async () => {
    dns.set('isp.example', { txt: ['v=spf1 include:amazonses.com ~all'] });
    await withLoggedInPage(browser, base, async (page) => {
      await page.getByRole('link', { name: 'Domains' }).click();
      const card = page.locator('.domain[data-domain="isp.example"]');
      await card.waitFor();
      expect(await card.textContent()).toContain('Not checked yet');
      expect(await page.locator('.domains-mode').textContent()).toContain('Reported only');
      await card.getByRole('button', { name: 'Check now' }).click();
      await eventually(async () => await card.locator('.badge').first().textContent()).toBe('Not verified');
      const row = (name: string) => card.locator(`tr[data-check="${name}"]`);
      expect(await row('dkim').textContent()).toContain('Missing');
      expect(await row('dkim').textContent()).toContain('mail2026._domainkey.isp.example');
      // The DKIM record to publish, whole, ready to copy.
      expect(await row('dkim').textContent()).toContain(`v=DKIM1; k=rsa; p=${publicKey}`);
      expect(await row('spf').textContent()).toContain('OK');
      expect(await row('dmarc').textContent()).toContain('Missing');
      await shot(page, 'domains-not-verified');

      dns.set('mail2026._domainkey.isp.example', { txt: [`v=DKIM1; k=rsa; p=${publicKey}`] });
      dns.set('_dmarc.isp.example', { txt: ['v=DMARC1; p=reject'] });
      await card.getByRole('button', { name: 'Check now' }).click();
      await eventually(async () => await card.locator('.badge').first().textContent()).toBe('Verified');
      expect(await row('dmarc').textContent()).toContain('DMARC policy reject');
      await shot(page, 'domains-verified');
    });
    // Kept: the page shows the last result after a reload, as every process does.
    await withLoggedInPage(browser, base, async (page) => {
      await page.goto(`${base}/admin/domains`);
      const card = page.locator('.domain[data-domain="isp.example"]');
      await eventually(async () => await card.locator('.badge').first().textContent()).toBe('Verified');
    });
  });
});
