import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { incidentExample } from '../helpers/fixtures.js';
import { type Running, serve } from '../../src/app/serve.js';
import { launchBrowser, newPage, seriousA11yViolations, shot, withLoggedInPage } from './browser.js';
import { seedMessages } from './seed.js';

/**
 * axe-core on every page of the admin UI, in light and dark mode, on a desktop and a phone: no
 * serious or critical violation (contrast, names, roles, structure). Capture mode with the
 * worker in this process, so the capture inbox has a mail to show.
 */
describe('admin UI accessibility (axe-core)', () => {
  let t: TestContext;
  let browser: Browser;
  let base: string;
  let running: Running;
  let seeded: Awaited<ReturnType<typeof seedMessages>>;
  let inboxId: string | undefined;

  beforeAll(async () => {
    t = await createTestContext('sqlite', { CAPTURE_SMTP_PORT: '0' });
    seeded = await seedMessages(t);
    running = await serve(t.services, { api: false, worker: true, retention: false });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
    // One mail through the worker into the capture inbox.
    const sent = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { ...incidentExample(), to: 'a11y@example.com' },
    });
    expect(sent.statusCode).toBe(201);
    for (let i = 0; i < 200 && !inboxId; i++) {
      inboxId = (await t.inject({ method: 'GET', url: '/api/v1/dev/inbox' })).json().items?.[0]?.id;
      if (!inboxId) await new Promise((r) => setTimeout(r, 100));
    }
    expect(inboxId).toBeTruthy();
    // An endpoint (its card, edit form and deliveries are checked too), and a bounce with its feedback.
    const hook = await t.inject({
      method: 'POST',
      url: '/api/v1/webhooks',
      payload: { url: 'http://127.0.0.1:9/hooks', event_types: ['bounced'], description: 'CRM' },
    });
    expect(hook.statusCode).toBe(201);
    await t.services.events.record(t.services.db, [
      {
        messageId: seeded.bounced.id,
        type: 'bounced',
        at: Date.now(),
        data: {
          bounce_type: 'Permanent',
          bounce_subtype: 'NoEmail',
          feedback_id: 'fb-a11y',
          recipients: [{ email: seeded.bounced.to, status: '5.1.1', diagnostic: 'smtp; 550 5.1.1 no such user' }],
          suppressed: [seeded.bounced.to],
        },
      },
    ]);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await running?.stop();
    await t?.close();
  });

  /** Each page of the UI and what shows it is loaded. */
  const pages = (): { name: string; path: string; ready: (page: Page) => Promise<unknown> }[] => [
    { name: 'dashboard', path: '/', ready: (p) => p.getByRole('img', { name: /per day/ }).waitFor() },
    { name: 'messages', path: '/messages', ready: (p) => p.locator('table.messages').waitFor() },
    {
      name: 'messages-search',
      path: '/messages?q=techconnect&from=noreply',
      ready: (p) => p.locator('table.messages').waitFor(),
    },
    {
      name: 'message',
      path: `/messages/${seeded.invoice.id}`,
      ready: (p) => p.locator('iframe.email-frame').waitFor(),
    },
    {
      name: 'message-failed',
      path: `/messages/${seeded.failed.id}`,
      ready: (p) => p.getByRole('button', { name: 'Retry' }).waitFor(),
    },
    {
      name: 'recipient',
      path: `/recipients/${encodeURIComponent(seeded.bounced.to)}`,
      ready: (p) =>
        p
          .getByText(/Not suppressed|since/)
          .first()
          .waitFor(),
    },
    { name: 'templates', path: '/templates', ready: (p) => p.getByRole('heading', { name: 'billing' }).waitFor() },
    {
      name: 'template-editor',
      path: '/templates/billing_invoice_monthly',
      ready: async (p) => {
        await p.locator('.cm-content[data-field="html_content"]').waitFor();
        await p.getByTestId('preview-subject').waitFor();
      },
    },
    {
      name: 'template-versions',
      path: '/templates/billing_invoice_monthly',
      ready: async (p) => {
        await p.getByRole('tab', { name: 'Versions' }).click();
        await p
          .getByRole('button', { name: /^Restore|Compare/ })
          .or(p.locator('.versions table'))
          .first()
          .waitFor();
      },
    },
    {
      name: 'template-settings',
      path: '/templates/billing_invoice_monthly',
      ready: async (p) => {
        await p.getByRole('tab', { name: 'Settings' }).click();
        await p.getByRole('heading', { name: 'Variables' }).waitFor();
      },
    },
    {
      name: 'templates-new',
      path: '/templates',
      ready: async (p) => {
        await p.getByRole('button', { name: 'New template' }).click();
        await p.getByLabel('Key').waitFor();
      },
    },
    { name: 'system', path: '/system', ready: (p) => p.getByRole('heading', { name: 'Transports' }).waitFor() },
    {
      name: 'message-bounced',
      path: `/messages/${seeded.bounced.id}`,
      ready: (p) => p.locator('.card.feedback').waitFor(),
    },
    { name: 'inbox', path: '/inbox', ready: (p) => p.locator('.inbox-list a').first().waitFor() },
    { name: 'inbox-mail', path: `/inbox/${inboxId}`, ready: (p) => p.locator('.inbox-mail iframe').waitFor() },
    {
      name: 'settings-keys',
      path: '/settings/keys',
      ready: (p) => p.getByRole('button', { name: 'Create key' }).waitFor(),
    },
    {
      name: 'settings-suppressions',
      path: '/settings/suppressions',
      ready: (p) => p.getByLabel('Suppress an address').waitFor(),
    },
    {
      name: 'settings-webhooks',
      path: '/settings/webhooks',
      ready: async (p) => {
        await p.locator('.card.webhook').first().waitFor();
        await p.getByRole('button', { name: 'Edit' }).first().click();
        await p.getByText('Recent deliveries').first().click();
      },
    },
    {
      name: 'not-found',
      path: '/no-such-page',
      ready: (p) => p.getByRole('heading', { name: 'Page not found' }).waitFor(),
    },
  ];

  /**
   * Each page loaded once, then checked in light and in dark mode: the theme is CSS alone
   * (prefers-color-scheme), so switching the emulated setting restyles the page as it is.
   */
  const checkEveryPage = async (page: Page) => {
    const found: Record<string, string[]> = {};
    for (const p of pages()) {
      await page.goto(`${base}/admin${p.path}`);
      await p.ready(page);
      for (const colorScheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme });
        expect(await page.evaluate(`matchMedia('(prefers-color-scheme: dark)').matches`)).toBe(colorScheme === 'dark');
        const violations = await seriousA11yViolations(page);
        if (violations.length) found[`${p.name} (${colorScheme})`] = violations;
        await shot(page, `a11y-${p.name}${colorScheme === 'dark' ? '-dark' : ''}`);
      }
      await page.emulateMedia({ colorScheme: 'light' });
    }
    expect(found).toEqual({});
  };

  it('the login page has no serious violation, light and dark', async () => {
    for (const colorScheme of ['light', 'dark'] as const) {
      const p = await newPage(browser, base, { colorScheme });
      try {
        await p.page.goto(`${base}/admin/`);
        await p.page.getByLabel('Admin token').waitFor();
        expect(await seriousA11yViolations(p.page)).toEqual([]);
        expect(p.problems).toEqual([]);
      } finally {
        await p.close();
      }
    }
  });

  it('every page has no serious violation, in light and in dark mode', async () => {
    await withLoggedInPage(browser, base, checkEveryPage);
  }, 180_000);

  it('the phone layout with its menu open has no serious violation', async () => {
    await withLoggedInPage(
      browser,
      base,
      async (page) => {
        await page.getByRole('button', { name: 'Menu' }).click();
        await page.getByRole('link', { name: 'Settings' }).waitFor();
        expect(await seriousA11yViolations(page)).toEqual([]);
        await page.goto(`${base}/admin/templates/billing_invoice_monthly`);
        await page.locator('.cm-content[data-field="html_content"]').waitFor();
        expect(await seriousA11yViolations(page)).toEqual([]);
      },
      { viewport: { width: 390, height: 844 } },
    );
  });
});
