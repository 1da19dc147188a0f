import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { launchBrowser, login, newPage, shot, withLoggedInPage } from './browser.js';
import { incidentExample } from '../helpers/fixtures.js';
import { saveRelayStatus } from '../../src/delivery/relay-status.js';
import { seedMessages } from './seed.js';

// Code run in the page is passed as strings: this project's type-check has no DOM library.

/**
 * The admin UI in a real Chromium against a real Postier listening on loopback (SQLite: the
 * pages do not depend on the database, whose behaviour the API tests cover on both).
 */
describe('admin UI in a browser', () => {
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

  const withPage = (fn: (page: Page) => Promise<void>, viewport?: { width: number; height: number }) =>
    withLoggedInPage(browser, base, fn, viewport);

  it('refuses a wrong token, then logs in with the admin token and out again', async () => {
    const p = await newPage(browser, base);
    try {
      await login(p.page, base, 'not-a-token');
      await expect.poll(() => p.page.getByRole('alert').textContent()).toContain('unknown or revoked');
      await shot(p.page, 'login');
      await p.page.getByLabel('Admin token').fill('test-admin-token-0123456789abcdef');
      await p.page.getByRole('button', { name: 'Sign in' }).click();
      await p.page.getByRole('heading', { name: 'Dashboard' }).waitFor();
      // The token is kept for the tab's session only.
      expect(
        await p.page.evaluate("[sessionStorage.getItem('postier.token'), localStorage.getItem('postier.token')]"),
      ).toEqual(['test-admin-token-0123456789abcdef', null]);
      await p.page.reload();
      await p.page.getByRole('heading', { name: 'Dashboard' }).waitFor();
      await p.page.getByRole('button', { name: 'Log out' }).click();
      await p.page.getByLabel('Admin token').waitFor();
    } finally {
      await p.close();
    }
  });

  it('shows the dashboard: counts, the daily chart, the queue and the latest failures with their reason', async () => {
    await withPage(async (page) => {
      const tiles = page.locator('.tile');
      await expect.poll(() => tiles.count()).toBe(5);
      expect(await tiles.nth(0).textContent()).toBe('5Messages today'); // five messages accepted today
      await page.getByRole('img', { name: /per day/ }).waitFor();
      const failures = page.locator('.card', { hasText: 'Latest failures' });
      expect(await failures.textContent()).toContain('Recipient address rejected');
      expect(await failures.textContent()).toContain('Permanent / NoEmail');
      await shot(page, 'dashboard');
    });
  });

  it('searches messages by status and recipient, pages through them, and opens one', async () => {
    await withPage(async (page) => {
      await page.getByRole('link', { name: 'Messages' }).click();
      await page.getByText('5 messages', { exact: true }).waitFor();
      await shot(page, 'messages');
      await page.getByLabel('Status').selectOption('failed');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByText('1 message', { exact: true }).waitFor();
      expect(page.url()).toContain('status=failed');
      await page.getByRole('button', { name: 'Reset' }).click();
      await page.getByLabel('Recipient', { exact: true }).fill('reseller@techconnect.bj');
      await page.getByLabel('Template').selectOption('billing_invoice_monthly');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByText('1 message', { exact: true }).waitFor();
      await page.getByRole('link', { name: 'Facture RGZ — février 2026' }).click();
      await page.getByRole('heading', { name: 'Facture RGZ — février 2026' }).waitFor();
      expect(page.url()).toContain(`/admin/messages/${seeded.invoice.id}`);
    });
  });

  it('shows a message: sandboxed HTML, text part, headers, events, attachment download', async () => {
    await withPage(async (page) => {
      await page.goto(`${base}/admin/messages/${seeded.invoice.id}`);
      const frame = page.locator('iframe.email-frame');
      await frame.waitFor();
      expect(await frame.getAttribute('sandbox')).toBe('');
      expect(await page.frameLocator('iframe.email-frame').locator('body').textContent()).toContain('INV-2026-0001');
      const headers = page.locator('.card', { hasText: 'Headers' });
      expect(await headers.textContent()).toContain('RGZ Notifications <noreply@rgz.bj>');
      expect(await headers.textContent()).toMatch(/Message-ID<[0-9a-f-]+@rgz\.bj>/);
      expect(await page.locator('.timeline').textContent()).toContain('queued');
      expect(await page.locator('.card', { hasText: 'Details' }).textContent()).toContain('250 2.0.0 OK');
      await shot(page, 'message');
      const download = page.waitForEvent('download');
      await page.getByRole('button', { name: 'invoice_2026-02.pdf' }).click();
      expect((await download).suggestedFilename()).toBe('invoice_2026-02.pdf');
      await page.getByRole('tab', { name: 'Text' }).click();
      expect(await page.locator('pre.text-part').textContent()).toContain('Montant: 450000 FCFA');
    });
  });

  it('retries a failed message (back to queued), cancels a queued one, and resends a sent one', async () => {
    const status = async (id: string) =>
      (await t.services.db.selectFrom('email_messages').select('status').where('id', '=', id).executeTakeFirstOrThrow())
        .status;
    // A message of its own, failed in the database, so the other tests' counts stay as seeded.
    const [failed] = (
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        payload: { ...incidentExample(), to: 'retry-me@example.com' },
      })
    ).json().items as { id: string }[];
    await t.services.db
      .updateTable('email_messages')
      .set({ status: 'failed', attempts: 5, error_message: '421 4.7.0 Try again later' })
      .where('id', '=', failed!.id)
      .execute();
    await withPage(async (page) => {
      await page.goto(`${base}/admin/messages/${failed!.id}`);
      await page.getByText('421 4.7.0 Try again later').waitFor();
      await page.getByRole('button', { name: 'Retry' }).click();
      // Queued again: the page reloads and offers to cancel instead.
      await page.getByRole('button', { name: 'Cancel sending' }).waitFor();
      expect(await page.getByRole('button', { name: 'Retry' }).count()).toBe(0);
      expect(await page.locator('.timeline').textContent()).toContain('retried');
      expect(await status(failed!.id)).toBe('queued');
      await shot(page, 'message-retried');

      await page.getByRole('button', { name: 'Cancel sending' }).click(); // the confirmation is accepted
      await page.locator('.badge', { hasText: 'cancelled' }).first().waitFor();
      expect(await status(failed!.id)).toBe('cancelled');

      // A delivered message can be sent again: a new message, linked to the old one.
      await page.goto(`${base}/admin/messages/${seeded.invoice.id}`);
      await page.getByRole('button', { name: 'Resend' }).click();
      await expect.poll(() => page.url()).not.toContain(seeded.invoice.id);
      await page.getByText(seeded.invoice.id, { exact: true }).waitFor(); // "Resent from"
      const copy = page.url().split('/').pop()!;
      expect(await status(copy)).toBe('queued');
      await t.services.db.deleteFrom('email_events').where('message_id', '=', copy).execute();
      await t.services.db.deleteFrom('email_attachments').where('message_id', '=', copy).execute();
      await t.services.db.deleteFrom('email_messages').where('id', '=', copy).execute();
    });
    await t.services.db.deleteFrom('email_events').where('message_id', '=', failed!.id).execute();
    await t.services.db.deleteFrom('email_messages').where('id', '=', failed!.id).execute();
  });

  it("finds a recipient's messages from the audit and shows their suppression state", async () => {
    await withPage(async (page) => {
      await page.goto(`${base}/admin/messages?status=bounced`);
      await page.getByRole('link', { name: 'bounce@example.com' }).click();
      await page.getByRole('heading', { name: 'bounce@example.com' }).waitFor();
      await page.getByText('1 message', { exact: true }).waitFor();
      await page.getByText(/Not suppressed/).waitFor();
    });
  });

  it("shows and lifts a recipient's suppression, and erases the recipient after a confirmation", async () => {
    const email = 'gone@example.com';
    const [sent] = (
      await t.inject({ method: 'POST', url: '/api/v1/email/send', payload: { ...incidentExample(), to: email } })
    ).json().items as { id: string }[];
    expect((await t.inject({ method: 'POST', url: '/api/v1/email/suppressions', payload: { email } })).statusCode).toBe(
      201,
    );
    await withPage(async (page) => {
      await page.goto(`${base}/admin/recipients/${encodeURIComponent(email)}`);
      await page.locator('.badge', { hasText: 'manual' }).waitFor();
      await shot(page, 'recipient');
      await page.getByRole('button', { name: 'Remove suppression' }).click();
      await page.getByText(/Not suppressed/).waitFor();
      const dialogs: string[] = [];
      page.on('dialog', (d) => dialogs.push(d.message()));
      await page.getByRole('button', { name: 'Erase this recipient' }).click();
      await page.getByText('Erased — messages: 1').waitFor();
      expect(dialogs.join(' ')).toContain(`Erase ${email}`);
      // The queued message was cancelled; the audit still lists it by the address.
      await page.getByText('1 message', { exact: true }).waitFor();
      await shot(page, 'recipient-erased');
    });
    const m = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${sent!.id}` })).json();
    expect(m.status).toBe('cancelled');
    expect(m.html_content).toBeNull();
    expect(m.to).not.toBe(email);
    await t.services.db.deleteFrom('email_events').where('message_id', '=', sent!.id).execute();
    await t.services.db.deleteFrom('email_messages').where('id', '=', sent!.id).execute();
  });

  it('lists templates by category and opens one with its content and required variables', async () => {
    await withPage(async (page) => {
      await page.getByRole('link', { name: 'Templates' }).click();
      await page.getByRole('heading', { name: 'billing' }).waitFor();
      expect(await page.locator('.categories h2').count()).toBeGreaterThan(2);
      await shot(page, 'templates');
      await page.getByRole('link', { name: 'Facture mensuelle' }).click();
      const subject = page.getByLabel('Subject');
      await subject.waitFor();
      expect(await subject.inputValue()).toContain('Facture RGZ');
      // The HTML is in a code editor (CodeMirror, loaded on demand): its text, not an input's value.
      await page.locator('.cm-content[data-field="html_content"]').waitFor();
      expect(await page.getByLabel('HTML').textContent()).toContain('{{');
      const vars = JSON.parse(await page.getByLabel('Sample variables (JSON)').inputValue()) as Record<string, unknown>;
      expect(Object.keys(vars)).toContain('invoice_number');
      expect(await page.locator('.chips').textContent()).toContain('reseller_name');
      await page.getByTestId('not-available').or(page.getByTestId('preview-subject')).first().waitFor();
      await shot(page, 'template-editor');
    });
  });

  it('creates an API key whose token is shown once, then revokes it', async () => {
    await withPage(async (page) => {
      await page.getByRole('link', { name: 'Settings' }).click();
      await page.getByLabel('Name').fill('billing service');
      await page.getByRole('button', { name: 'Create key' }).click();
      const token = await page.getByTestId('new-token').textContent();
      expect(token).toMatch(/\S{20,}/);
      // A key limited to some senders: its list is stored and shown.
      await page.getByLabel('Name').fill('shop sender');
      await page.getByLabel('Allowed senders').fill('rgz.bj, alerts@rgz.bj');
      await page.getByRole('button', { name: 'Create key' }).click();
      await page.getByText('Key “shop sender” created', { exact: false }).waitFor();
      await page.getByRole('cell', { name: 'rgz.bj, alerts@rgz.bj' }).waitFor();
      const keys = (await t.inject({ method: 'GET', url: '/api/v1/keys' })).json().items;
      expect(keys.find((k: { name: string }) => k.name === 'shop sender').allowed_from).toEqual([
        'rgz.bj',
        'alerts@rgz.bj',
      ]);
      await shot(page, 'settings-keys');
      // The token works once created…
      const ok = await t.inject({ method: 'GET', url: '/api/v1/email/templates', token: token! });
      expect(ok.statusCode).toBe(200);
      await page.reload();
      await page.getByRole('button', { name: 'Revoke key billing service' }).waitFor();
      expect(await page.content()).not.toContain(token!);
      await page.getByRole('button', { name: 'Revoke key billing service' }).click();
      await page.getByText(/revoked/).waitFor();
      // …and is refused once revoked.
      expect((await t.inject({ method: 'GET', url: '/api/v1/email/templates', token: token! })).statusCode).toBe(401);
    });
  });

  it('adds and lifts a suppression, and adds a webhook endpoint whose secret is shown once', async () => {
    await withPage(async (page) => {
      await page.goto(`${base}/admin/settings/suppressions`);
      await page.getByLabel('Suppress an address').fill('blocked@example.com');
      await page.getByRole('button', { name: 'Suppress', exact: true }).click();
      await page.getByRole('link', { name: 'blocked@example.com' }).waitFor();
      expect(await page.locator('table').textContent()).toContain('manual');
      await shot(page, 'settings-suppressions');
      await page.getByRole('button', { name: 'Remove' }).click();
      await page.getByText('No suppressed address.').waitFor();
      expect(
        (await t.inject({ method: 'GET', url: '/api/v1/email/suppressions?email=blocked@example.com' })).json().total,
      ).toBe(0);

      await page.goto(`${base}/admin/settings/webhooks`);
      await page.getByLabel('Endpoint URL').fill('https://hooks.example.com/postier');
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      expect(await page.locator('.token-once code').textContent()).toMatch(/\S{20,}/);
      await page
        .locator('.card', { hasText: 'https://hooks.example.com/postier' })
        .getByText('delivered, bounced, complaint, failed')
        .waitFor();
      await page.getByText('Recent deliveries').click();
      await page.getByText('No delivery yet.').waitFor();
      await shot(page, 'settings-webhooks');
      await page.getByRole('button', { name: 'Delete' }).click();
      await page.getByText('No webhook endpoint.').waitFor();
    });
  });

  it('switches to French and remembers it', async () => {
    await withPage(async (page) => {
      await page.getByLabel('Language').selectOption('fr');
      await page.getByRole('heading', { name: 'Tableau de bord' }).waitFor();
      expect(await page.getByRole('navigation', { name: 'Principale' }).textContent()).toContain('Modèles');
      await page.reload();
      await page.getByRole('heading', { name: 'Tableau de bord' }).waitFor();
      expect(await page.evaluate('document.documentElement.lang')).toBe('fr');
      await page.getByRole('link', { name: 'Messages' }).click();
      await page.getByRole('button', { name: 'Rechercher' }).waitFor();
      await shot(page, 'messages-fr');
      await page.getByLabel('Langue').selectOption('en');
    });
  });

  it('is usable with the keyboard alone', async () => {
    await withPage(async (page) => {
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
      await page.keyboard.press('Tab'); // the brand link
      await page.keyboard.press('Tab'); // Dashboard
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement?.textContent')).toBe('Messages');
      await page.keyboard.press('Enter');
      await page.getByText('5 messages', { exact: true }).waitFor();
      await page.getByLabel('Recipient', { exact: true }).focus();
      await page.keyboard.type('ops@example.com');
      await page.keyboard.press('Enter');
      await page.getByText('1 message', { exact: true }).waitFor();
      // Focus is visible: the focused control gets an outline.
      expect(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle')).not.toBe('none');
    });
  });

  it('fits a phone screen without sideways scrolling', async () => {
    await withPage(
      async (page) => {
        const fits = () => page.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1');
        expect(await fits()).toBe(true);
        await shot(page, 'mobile-dashboard');
        await page.goto(`${base}/admin/messages`);
        await page.getByText('5 messages', { exact: true }).waitFor();
        expect(await fits()).toBe(true);
        await shot(page, 'mobile-messages');
        await page.goto(`${base}/admin/messages/${seeded.invoice.id}`);
        await page.locator('iframe.email-frame').waitFor();
        expect(await fits()).toBe(true);
        await shot(page, 'mobile-message');
      },
      { width: 390, height: 844 },
    );
  });

  it('warns of a relay problem on the dashboard until it is over, and shows each recipient of a message with its outcome', async () => {
    const [m] = (
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        payload: { ...incidentExample(), to: 'noc@rgz.bj', cc: ['chef@rgz.bj', 'dg@rgz.bj'], bcc: 'audit@rgz.bj' },
      })
    ).json().items as { id: string }[];
    const now = Date.now();
    // What the worker writes after an attempt that left the bcc greylisted, a cc refused and
    // another withheld (on the suppression list).
    const recipients = {
      'noc@rgz.bj': {
        kind: 'to',
        status: 'accepted',
        code: 250,
        enhanced: '2.0.0',
        response: '250 2.0.0 Ok: queued as 4F2A',
        attempts: 1,
        at: now,
      },
      'chef@rgz.bj': {
        kind: 'cc',
        status: 'refused',
        code: 550,
        enhanced: '5.1.1',
        response: '550 5.1.1 <chef@rgz.bj>: Recipient address rejected: User unknown',
        attempts: 1,
        at: now,
      },
      'dg@rgz.bj': {
        kind: 'cc',
        status: 'suppressed',
        code: null,
        enhanced: null,
        response: 'Recipient is on the suppression list (hard_bounce)',
        attempts: 0,
        at: now,
      },
      'audit@rgz.bj': {
        kind: 'bcc',
        status: 'deferred',
        code: 450,
        enhanced: '4.2.0',
        response: '450 4.2.0 Greylisted, try again later',
        attempts: 1,
        at: now,
      },
    };
    await t.services.db
      .updateTable('email_messages')
      .set({ recipient_status: JSON.stringify(recipients), next_attempt_at: now + 3_600_000 })
      .where('id', '=', m!.id)
      .execute();
    await saveRelayStatus(
      t.services.db,
      'relay',
      'smtp.example.com:587',
      { state: 'problem', kind: 'auth', text: '535 5.7.8 Authentication credentials invalid' },
      now,
    );
    await withPage(async (page) => {
      const banner = page.locator('.relay-banner');
      await banner.waitFor();
      expect(await banner.getAttribute('role')).toBe('alert');
      expect(await banner.textContent()).toContain('The SMTP relay smtp.example.com:587 has a problem (auth) since');
      expect(await banner.textContent()).toContain('Last reply: 535 5.7.8 Authentication credentials invalid');
      await shot(page, 'dashboard-relay-problem');
      await page.goto(`${base}/admin/messages/${m!.id}`);
      const card = page.locator('.card').filter({ has: page.getByRole('heading', { name: 'Recipients' }) });
      await card.waitFor();
      const rows = card.locator('tbody tr');
      await expect.poll(() => rows.count()).toBe(4);
      const text = async (i: number) => (await rows.nth(i).textContent()) ?? '';
      expect(await text(0)).toMatch(/^noc@rgz\.bjtoAccepted250 2\.0\.0 Ok: queued as 4F2A/);
      expect(await text(1)).toMatch(
        /^chef@rgz\.bjccRefused550 5\.1\.1 <chef@rgz\.bj>: Recipient address rejected: User unknown/,
      );
      expect(await text(2)).toMatch(/^dg@rgz\.bjccSuppressedRecipient is on the suppression list \(hard_bounce\)/);
      expect(await text(3)).toMatch(/^audit@rgz\.bjbccDeferred450 4\.2\.0 Greylisted, try again later/);
      await shot(page, 'message-recipients');
    });
    // A fallback relay that works: the banner says mail goes through it, as a warning.
    await saveRelayStatus(t.services.db, 'relay-2', 'backup.example.net:465', { state: 'ok' }, now + 500);
    await withPage(async (page) => {
      const banner = page.locator('.relay-banner');
      await banner.waitFor();
      expect(await banner.getAttribute('class')).toContain('warn');
      expect(await banner.textContent()).toContain(
        'Mail goes through the fallback relay backup.example.net:465 meanwhile',
      );
      await shot(page, 'dashboard-relay-failover');
    });
    await saveRelayStatus(t.services.db, 'relay', 'smtp.example.com:587', { state: 'ok' }, now + 1000);
    await withPage(async (page) => {
      await page.locator('.tile').first().waitFor();
      await page.getByRole('img', { name: /per day/ }).waitFor();
      expect(await page.locator('.relay-banner').count()).toBe(0);
    });
  });
});
