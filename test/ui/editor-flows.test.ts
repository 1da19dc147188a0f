import type { Browser, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { type Running, serve } from '../../src/app/serve.js';
import { launchBrowser, shot, withLoggedInPage } from './browser.js';

/**
 * The editor, test-send, restore and capture-inbox flows against a real Postier in capture mode:
 * no SMTP_HOST, the capture SMTP server on a free port, and the delivery worker in this process,
 * so a test send really goes out and lands in the capture inbox.
 */
describe('admin UI flows that need the template and delivery APIs', () => {
  let t: TestContext | undefined;
  let browser: Browser | undefined;
  let base = '';
  let running: Running | undefined;

  async function withPage(fn: (page: Page) => Promise<void>) {
    if (!t) {
      t = await createTestContext('sqlite', { CAPTURE_SMTP_PORT: '0' });
      running = await serve(t.services, { api: false, worker: true, retention: false });
      base = await t.app.listen({ port: 0, host: '127.0.0.1' });
      browser = await launchBrowser();
    }
    await withLoggedInPage(browser!, base, fn);
  }
  afterAll(async () => {
    await browser?.close();
    await running?.stop();
    await t?.close();
  });

  const openEditor = async (page: Page) => {
    await page.goto(`${base}/admin/templates/billing_invoice_monthly`);
    await page.getByTestId('preview-subject').waitFor();
    // The code editor (loaded on demand) has replaced the plain textarea that stands in for it.
    await page.locator('.cm-content[data-field="html_content"]').waitFor();
  };

  it('edits a template and sees the live preview change, on desktop, mobile and text', async () => {
    await withPage(async (page) => {
      await openEditor(page);
      await page.getByLabel('Subject').fill('Votre facture {{ month }} est prête');
      await expect
        .poll(() => page.getByTestId('preview-subject').textContent())
        .toContain('Votre facture février est prête');
      await page.getByLabel('HTML').fill('<p>Bonjour {{ reseller_name }}, total {{ amount_fcfa }} FCFA</p>');
      await expect
        .poll(() => page.frameLocator('.preview iframe').locator('body').textContent())
        .toContain('Bonjour Tech Connect SA');
      await page.getByRole('tab', { name: 'Mobile' }).click();
      await expect
        .poll(async () => (await page.locator('.preview .frame-wrap').boundingBox())?.width)
        .toBeLessThanOrEqual(375);
      await page.getByRole('tab', { name: 'Plain text' }).click();
      await page.getByTestId('preview-text').waitFor();
      await shot(page, 'template-editor-live');
    });
  });

  it('shows a broken Liquid tag inline with its line, and a missing required variable', async () => {
    await withPage(async (page) => {
      await openEditor(page);
      await page.getByLabel('HTML').fill('<p>ok</p>\n<p>{% if amount_fcfa %}never closed</p>');
      await expect.poll(() => page.locator('.field-error').first().textContent()).toMatch(/Line 2/);
      const vars = JSON.parse(await page.getByLabel('Sample variables (JSON)').inputValue()) as Record<string, unknown>;
      delete vars.invoice_number;
      await page.getByLabel('Sample variables (JSON)').fill(JSON.stringify(vars, null, 2));
      await expect.poll(() => page.locator('.chip.bad').textContent()).toContain('invoice_number');
      await shot(page, 'template-editor-error');
    });
  });

  it('sends a test and finds it in Messages and in the capture inbox', async () => {
    await withPage(async (page) => {
      await openEditor(page);
      await page.getByPlaceholder('Test address').fill('qa@example.com');
      await page.getByRole('button', { name: 'Send test' }).click();
      await page.getByText('Test sent to qa@example.com').waitFor();
      await page.goto(`${base}/admin/messages?to=qa@example.com`);
      await page.getByText('1 message', { exact: true }).waitFor();
      await page.getByRole('link', { name: 'Capture inbox' }).click();
      await expect
        .poll(async () => {
          await page.getByRole('button', { name: 'Refresh' }).click();
          return page.locator('.inbox-list').textContent();
        })
        .toContain('qa@example.com');
      await page.locator('.inbox-list a').first().click();
      await page.frameLocator('.inbox-mail iframe').locator('body').waitFor();
      await page.getByRole('tab', { name: 'Source' }).click();
      await expect
        .poll(() => page.locator('pre.source').textContent())
        .toMatch(/^(Received|Content-Type|From|To|Subject|Message-ID|MIME-Version|Date):/m);
      await shot(page, 'inbox');
    });
  });

  it('saves a new version, diffs it against the old one, and restores the old one', async () => {
    await withPage(async (page) => {
      await openEditor(page);
      await page.getByLabel('Subject').fill('Facture v2 — {{ month }} {{ year }}');
      await page.getByLabel('Version comment').fill('shorter subject');
      await page.getByRole('button', { name: 'Save as new version' }).click();
      await page.getByText('active version v2').waitFor();
      await page.getByRole('tab', { name: 'Versions' }).click();
      await expect.poll(() => page.locator('.diff').first().textContent()).toContain('Facture v2');
      expect(await page.locator('.diff-table tr.del').first().textContent()).toContain('Facture RGZ');
      await shot(page, 'template-versions');
      await page.getByRole('button', { name: 'Restore v1' }).click();
      await page.getByText('active version v1').waitFor();
      const active = await t!.inject({ method: 'GET', url: '/api/v1/email/templates/billing_invoice_monthly' });
      expect(active.json().active_version).toBe(1);
    });
  });
});
