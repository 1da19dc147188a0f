import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { incidentExample } from '../helpers/fixtures.js';
import { eventually, launchBrowser, shot, withLoggedInPage } from './browser.js';
import { seedMessages } from './seed.js';

// Code run in the page is passed as strings: this project's type-check has no DOM library.

const PHONE = { width: 390, height: 844 };

/**
 * What an operator notices after a day in the UI: the phone menu, chart labels one can read,
 * arrow keys in tab lists, dark mode from the system, events in their language, the search box
 * and scheduled messages.
 */
describe('admin UI details', () => {
  let t: TestContext;
  let browser: Browser;
  let base: string;
  let seeded: Awaited<ReturnType<typeof seedMessages>>;

  beforeAll(async () => {
    t = await createTestContext('sqlite');
    seeded = await seedMessages(t);
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const withPage = (fn: (page: Page) => Promise<void>, options?: Parameters<typeof withLoggedInPage>[3]) =>
    withLoggedInPage(browser, base, fn, options);
  const inViewport = async (page: Page, name: string) => {
    const box = await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name, exact: true })
      .boundingBox();
    return (
      box !== null && box.x >= 0 && box.x + box.width <= PHONE.width && box.y >= 0 && box.y + box.height <= PHONE.height
    );
  };

  it('on a phone, a Menu button opens every section, and going somewhere closes it', async () => {
    await withPage(async (page) => {
      const menu = page.getByRole('button', { name: 'Menu' });
      expect(await menu.getAttribute('aria-expanded')).toBe('false');
      expect(await page.getByRole('link', { name: 'Settings' }).isVisible()).toBe(false);
      await menu.click();
      expect(await menu.getAttribute('aria-expanded')).toBe('true');
      for (const name of ['Dashboard', 'Messages', 'Templates', 'Capture inbox', 'Settings'])
        expect(await inViewport(page, name), name).toBe(true);
      expect(await page.getByRole('button', { name: 'Log out' }).isVisible()).toBe(true);
      expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1')).toBe(true);
      await shot(page, 'mobile-nav-open');
      await page.getByRole('link', { name: 'Settings' }).click();
      await page.getByRole('heading', { name: 'Settings' }).waitFor();
      expect(await menu.getAttribute('aria-expanded')).toBe('false');
      expect(await page.getByRole('link', { name: 'Templates' }).isVisible()).toBe(false);
      // Escape closes it and gives the focus back to the button.
      await menu.click();
      await page.getByRole('link', { name: 'Templates' }).focus();
      await page.keyboard.press('Escape');
      expect(await menu.getAttribute('aria-expanded')).toBe('false');
      expect(await page.evaluate('document.activeElement?.classList.contains("menu-toggle")')).toBe(true);
    }, PHONE);
  });

  it('on a desktop, the sections show in the header without a Menu button', async () => {
    await withPage(async (page) => {
      expect(await page.getByRole('button', { name: 'Menu' }).isVisible()).toBe(false);
      for (const name of ['Dashboard', 'Messages', 'Templates', 'Capture inbox', 'Settings']) {
        expect(await page.getByRole('link', { name, exact: true }).isVisible()).toBe(true);
      }
    });
  });

  /** The size chart labels are drawn at on screen, in CSS pixels, and whether neighbours overlap. */
  const chartLabels = (page: Page) =>
    page.evaluate(`(() => {
      const svg = document.querySelector('.chart svg');
      const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
      const texts = [...svg.querySelectorAll('text.axis')];
      const sizes = texts.map((e) => parseFloat(getComputedStyle(e).fontSize) * scale);
      const days = texts.filter((e) => e.getAttribute('text-anchor') === 'middle').map((e) => ({ y: e.getAttribute('y'), r: e.getBoundingClientRect() }));
      let overlaps = 0;
      for (let i = 1; i < days.length; i++) {
        const a = days.filter((d) => d.y === days[i].y && d !== days[i] && d.r.left < days[i].r.left).pop();
        if (a && a.r.right > days[i].r.left) overlaps++;
      }
      return { smallest: Math.min(...sizes), count: texts.length, overlaps };
    })()`) as Promise<{ smallest: number; count: number; overlaps: number }>;

  it('draws chart labels at 12 px on screen, desktop and phone, without overlapping', async () => {
    for (const viewport of [{ width: 1366, height: 900 }, PHONE]) {
      await withPage(async (page) => {
        await page.getByRole('img', { name: /per day/ }).waitFor();
        const labels = await chartLabels(page);
        expect(labels.count).toBeGreaterThan(14); // 7 days × 2 lines, and the axis
        expect(labels.smallest).toBeGreaterThanOrEqual(11.5);
        expect(labels.overlaps).toBe(0);
        if (viewport === PHONE) await shot(page, 'mobile-dashboard-chart');
      }, viewport);
    }
  });

  it('moves between tabs with the arrow keys, Home and End, with one Tab stop per tab list', async () => {
    await withPage(async (page) => {
      await page.goto(`${base}/admin/messages/${seeded.invoice.id}`);
      const html = page.getByRole('tab', { name: 'HTML' });
      const text = page.getByRole('tab', { name: 'Text' });
      await html.waitFor();
      expect([await html.getAttribute('tabindex'), await text.getAttribute('tabindex')]).toEqual(['0', '-1']);
      await html.focus();
      await page.keyboard.press('ArrowRight');
      expect(await text.getAttribute('aria-selected')).toBe('true');
      expect(await page.evaluate('document.activeElement?.textContent')).toBe('Text');
      await page.locator('pre.text-part').waitFor();
      // The panel is the tab's: labelled by it, pointed to by it.
      const panel = page.getByRole('tabpanel', { name: 'Text' });
      expect(await panel.getAttribute('id')).toBe(await text.getAttribute('aria-controls'));
      await page.keyboard.press('ArrowRight'); // wraps around
      expect(await html.getAttribute('aria-selected')).toBe('true');
      await page.keyboard.press('End');
      expect(await text.getAttribute('aria-selected')).toBe('true');
      await page.keyboard.press('Home');
      expect(await html.getAttribute('aria-selected')).toBe('true');
      await page.keyboard.press('ArrowLeft');
      expect(await text.getAttribute('aria-selected')).toBe('true');

      // The template page's Editor / Versions tabs, the same way.
      await page.goto(`${base}/admin/templates/billing_invoice_monthly`);
      await page.getByRole('tab', { name: 'Editor' }).focus();
      await page.keyboard.press('ArrowRight');
      expect(await page.getByRole('tab', { name: 'Versions' }).getAttribute('aria-selected')).toBe('true');
      await page
        .getByRole('button', { name: /^Restore/ })
        .or(page.locator('.versions table'))
        .first()
        .waitFor();
    });
  });

  it('follows the system dark mode, keeping email previews on white', async () => {
    const colours = (page: Page) =>
      page.evaluate(`({
        root: getComputedStyle(document.documentElement).backgroundColor,
        card: getComputedStyle(document.querySelector('.card')).backgroundColor,
        text: getComputedStyle(document.querySelector('h1')).color,
      })`) as Promise<Record<string, string>>;
    let light: Record<string, string> = {};
    await withPage(async (page) => {
      await page.locator('.tile').first().waitFor();
      light = await colours(page);
    });
    await withPage(
      async (page) => {
        await page.locator('.tile').first().waitFor();
        const dark = await colours(page);
        expect(dark.root).toBe('rgb(18, 22, 28)');
        expect(dark.card).toBe('rgb(27, 33, 41)');
        expect(dark.text).toBe('rgb(227, 232, 238)');
        expect(light.root).toBe('rgb(245, 246, 248)');
        expect(light.text).toBe('rgb(29, 35, 43)');
        await shot(page, 'dark-dashboard');
        await page.goto(`${base}/admin/messages/${seeded.invoice.id}`);
        await page.locator('iframe.email-frame').waitFor();
        expect(await page.evaluate("getComputedStyle(document.querySelector('.frame-wrap')).backgroundColor")).toBe(
          'rgb(255, 255, 255)',
        );
        await shot(page, 'dark-message');
        await page.goto(`${base}/admin/templates/billing_invoice_monthly`);
        await page.locator('.cm-content[data-field="html_content"]').waitFor();
        // The code editor follows too.
        expect(await page.evaluate("getComputedStyle(document.querySelector('.cm-editor')).backgroundColor")).toBe(
          'rgb(18, 23, 29)',
        );
        await shot(page, 'dark-template-editor');
      },
      { colorScheme: 'dark' },
    );
  });

  it('names events and statuses in the chosen language, with the event type the API uses beside it', async () => {
    await withPage(async (page) => {
      await page.goto(`${base}/admin/messages/${seeded.invoice.id}`);
      const timeline = page.locator('.timeline');
      await timeline.waitFor();
      expect(await timeline.locator('li').first().locator('strong').textContent()).toBe('Queued');
      await page.getByLabel('Language').selectOption('fr');
      await eventually(() => timeline.locator('li').first().locator('strong').textContent()).toBe('Mis en file');
      expect(await timeline.locator('li').first().locator('code').textContent()).toBe('queued');
      expect(await page.locator('.page-head .badge').first().textContent()).toBe('Distribué');
      await page.getByLabel('Langue').selectOption('en');
    });
  });

  it('searches with operators in one box (partial, case-insensitive, on the server) and keeps the search in the URL', async () => {
    await withPage(
      async (page) => {
        await page.goto(`${base}/admin/messages`);
        await page.getByText('5 messages', { exact: true }).waitFor();
        const box = page.getByLabel('Search messages');
        const count = page.locator('.list-meta');
        const search = async (q: string) => {
          await box.fill(q);
          await box.press('Enter');
        };
        const rows = () => page.locator('table.messages tbody tr').allTextContents();
        // A whole address in any case.
        await search('to:Reseller@TechConnect.bj status:Delivered');
        await eventually(() => count.textContent()).toBe('1 message');
        expect(page.url()).toMatch(/to=Reseller%40TechConnect\.bj/);
        expect(page.url()).toMatch(/status=Delivered/);
        // The fields show the same search…
        expect(await page.getByLabel('Recipient', { exact: true }).inputValue()).toBe('Reseller@TechConnect.bj');
        expect(await page.getByLabel('Status').inputValue()).toBe('delivered');
        // …and editing a field edits the box.
        await page.getByLabel('Status').selectOption('failed');
        expect(await box.inputValue()).toBe('to:Reseller@TechConnect.bj status:failed');
        await page.getByLabel('On or after').fill('2020-01-31');
        expect(await box.inputValue()).toBe('to:Reseller@TechConnect.bj status:failed after:2020-01-31');
        await page.reload();
        expect(await box.inputValue()).toBe('to:Reseller@TechConnect.bj status:Delivered');

        // A fragment of an address, typed in the Recipient field.
        await page.getByLabel('Recipient', { exact: true }).fill('TECHCONN');
        expect(await box.inputValue()).toBe('to:TECHCONN status:Delivered');
        await page.getByRole('button', { name: 'Search' }).click();
        await eventually(() => count.textContent()).toBe('1 message');
        expect((await rows()).join(' ')).toContain('Facture RGZ — février 2026');
        // Words match recipients, subjects and tags; operators narrow.
        await search('techconnect');
        await eventually(() => count.textContent()).toBe('2 messages');
        await search('subject:"facture rgz"');
        await eventually(() => count.textContent()).toBe('1 message');
        await search('domain:example.com');
        await eventually(() => count.textContent()).toBe('2 messages');
        expect((await rows()).join(' ')).toContain('bounce@example.com');
        await search('from:noreply@rgz');
        await eventually(() => count.textContent()).toBe('5 messages');
        await search('template:incident_alert_critical status:failed');
        await eventually(() => count.textContent()).toBe('1 message');
        expect((await rows()).join(' ')).toContain('noc@rgz.bj');
        await search(`before:2020-01-01`);
        await eventually(() => count.textContent()).toBe('0 messages');
        await shot(page, 'messages-search');

        // A whole message id, or its first characters, finds that message.
        await search(`id:${seeded.failed.id.toUpperCase()}`);
        await eventually(() => count.textContent()).toBe('1 message');
        expect((await rows()).join(' ')).toContain(seeded.failed.to);
        // A status that does not exist is an error, not an empty result.
        await search('status:lost');
        await eventually(() => page.getByRole('alert').textContent()).toContain('Unknown status in status:lost');
        // What the server cannot search (a fragment too short for its index) is its error, with the code.
        await search('to:ab');
        await eventually(() => page.getByRole('alert').textContent()).toContain('invalid_search');
        expect(await page.getByRole('alert').textContent()).toContain('at least 3 characters');
        // That 400 is the one error the console may show.
      },
      { allowedStatuses: [400] },
    );
  });

  it('reads old search links (template_key, since, until) as the search box would write them', async () => {
    await withPage(async (page) => {
      await page.goto(`${base}/admin/messages?template_key=billing_invoice_monthly&until=2099-12-31`);
      await page.getByText('1 message', { exact: true }).waitFor();
      expect(await page.getByLabel('Search messages').inputValue()).toBe(
        'template:billing_invoice_monthly before:2100-01-01',
      );
    });
  });

  it('shows a message held until its send_at as Scheduled, with the time', async () => {
    const at = new Date(Date.now() + 2 * 3_600_000);
    const payload = { ...incidentExample(), to: 'later@example.com', send_at: at.toISOString() };
    const res = await t.inject({ method: 'POST', url: '/api/v1/email/send', payload });
    const id = (res.json().items as { id: string }[])[0]!.id;
    try {
      await withPage(async (page) => {
        await page.goto(`${base}/admin/messages/${id}`);
        const badge = page.locator('.page-head .badge').first();
        await badge.waitFor();
        expect(await badge.textContent()).toMatch(/^Scheduled \(.+\)$/);
        expect(await badge.textContent()).toContain(at.getUTCFullYear().toString().slice(2));
        // A queued message without send_at stays "Queued".
        await page.goto(`${base}/admin/messages/${seeded.queued.id}`);
        await eventually(() => page.locator('.page-head .badge').first().textContent()).toBe('Queued');
      });
    } finally {
      await t.services.db.deleteFrom('email_events').where('message_id', '=', id).execute();
      await t.services.db.deleteFrom('email_messages').where('id', '=', id).execute();
    }
  });
});
