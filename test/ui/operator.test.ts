import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, serve } from '../../src/app/serve.js';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { incidentExample } from '../helpers/fixtures.js';
import { answered, eventually, launchBrowser, shot, withLoggedInPage } from './browser.js';

/**
 * What an operator lives in, in a real Chromium against a real Postier in capture mode (no
 * SMTP_HOST, the worker in this process): the capture banner and the System page, captured and
 * scheduled mail, a bounce that reads as what it said, Resend and Retry that explain first,
 * templates created and managed, webhooks edited, paused, tested and retried.
 */
describe('admin UI for an operator', () => {
  let t: TestContext;
  let browser: Browser;
  let base: string;
  let running: Running;
  let hooks: Server;
  let hookUrl: string;
  const hookReplies: number[] = [];
  const hookBodies: string[] = [];

  beforeAll(async () => {
    t = await createTestContext('sqlite', {
      CAPTURE_SMTP_PORT: '0',
      WORKER_POLL_MS: '20',
      WEBHOOK_POLL_MS: '50',
      WEBHOOK_MAX_ATTEMPTS: '1',
    });
    running = await serve(t.services, { api: false, worker: true, retention: false });
    t.services.webhooks.start();
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hookBodies.push(body);
        res.statusCode = hookReplies.shift() ?? 200;
        res.end();
      });
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hooks`;
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.services.webhooks.stop();
    await running?.stop();
    await new Promise((resolve) => hooks?.close(resolve));
    await t?.close();
  });

  const withPage = (fn: (page: Page) => Promise<void>) => withLoggedInPage(browser, base, fn);
  const send = async (payload: object) =>
    (await t.inject({ method: 'POST', url: '/api/v1/email/send', payload })).json().items[0] as { id: string };
  const status = async (id: string) =>
    (await t.services.db.selectFrom('email_messages').select('status').where('id', '=', id).executeTakeFirstOrThrow())
      .status;

  it('says on every page that mail is captured, counts it as captured, and shows the System page', async () => {
    const { id } = await send({ ...incidentExample(), to: 'captured@example.com' });
    await eventually(() => status(id)).toBe('captured');
    await withPage(async (page) => {
      const banner = page.locator('.capture-banner');
      await banner.waitFor();
      expect(await banner.textContent()).toContain('NOT delivered');
      await page.getByText('Captured today (not delivered)').waitFor();
      await page.goto(`${base}/admin/templates`);
      await page.locator('.capture-banner').waitFor();
      await page.goto(`${base}/admin/messages/${id}`);
      await page.locator('.capture-banner').waitFor();
      await page.getByText('Captured (not delivered)').first().waitFor();
      await page.getByRole('link', { name: 'System', exact: true }).click();
      await page.getByRole('heading', { name: 'Transports' }).waitFor();
      const text = await page.locator('main').textContent();
      expect(text).toContain('Capture');
      expect(text).toContain('sqlite');
      // The database's versions: SQLite's library and the driver this Node loads.
      expect(text).toMatch(/SQLite 3\.\d+\.\d+ · better-sqlite3 1[23]/);
      expect(text).toMatch(/127\.0\.0\.1:\d+/);
      expect(text).toContain('SNS_ALLOWED_TOPIC_ARNS is empty');
      expect(text).not.toContain(t.config.adminToken!);
      // The worker running in this process, alive, by host and pid.
      const workers = page.locator('.card', { has: page.getByRole('heading', { name: 'Delivery workers' }) });
      expect(await workers.textContent()).toContain(`${hostname()} · pid ${process.pid}`);
      await workers.getByText('Alive', { exact: true }).waitFor();
      // SQLite's search index and what waits for it (a number: the job may have run already).
      expect(text).toMatch(/Search indexSQLite FTS5 · \d+ new messages waiting to be indexed/);
      expect(await page.getByTestId('submission-spool').textContent()).toBe(
        'empty: every message accepted over SMTP is stored',
      );
      // A message accepted over SMTP that could not be stored waits in the spool: the page says so, with why.
      await t.services.db
        .insertInto('submission_spool')
        .values({
          received_at: Date.now() - 60_000,
          api_key_id: null,
          envelope_from: 'billing@rgz.bj',
          recipients: '["a@example.org"]',
          message_ids: '["00000000-0000-7000-8000-000000000001"]',
          smtp_message_id: '<stuck@erp.rgz.bj>',
          from_email: 'billing@rgz.bj',
          options: null,
          send_at: Date.now(),
          raw: Buffer.from('From: billing@rgz.bj\r\n\r\nHello\r\n'),
          lease_expires_at: Date.now() + 600_000,
          last_error: 'disk I/O error',
        })
        .execute();
      try {
        await page.reload();
        const spool = page.getByTestId('submission-spool');
        await spool.getByText('1 could not be stored; retried').waitFor();
        expect(await spool.textContent()).toMatch(
          /^1 accepted over SMTP, not yet stored \(oldest .+\) .*disk I\/O error$/,
        );
        // The operator's card: the message as sent, tried again now, or dropped.
        const card = page.getByTestId('spool-failing');
        const row = card.locator('tbody tr');
        await row.getByText('<stuck@erp.rgz.bj>').waitFor();
        expect(await row.textContent()).toMatch(/billing@rgz\.bj→ a@example\.org · .*next try .*disk I\/O error/);
        const download = page.waitForEvent('download');
        await row.getByRole('button', { name: 'Download .eml' }).click();
        const file = await download;
        expect(file.suggestedFilename()).toMatch(/^spooled-\d+\.eml$/);
        expect(readFileSync((await file.path())!, 'latin1')).toBe('From: billing@rgz.bj\r\n\r\nHello\r\n');
        await row.getByRole('button', { name: 'Retry now' }).click();
        await eventually(async () => (await row.textContent())?.includes('next try')).toBe(false);
        expect((await t.services.db.selectFrom('submission_spool').select('lease_expires_at').execute())[0]).toEqual({
          lease_expires_at: null,
        });
        await shot(page, 'operator-spool');
        const dialogs: string[] = [];
        page.on('dialog', (d) => dialogs.push(d.message()));
        await row.getByRole('button', { name: 'Drop' }).click();
        await card.waitFor({ state: 'detached' });
        expect(dialogs.join(' ')).toContain('will never be stored or sent');
        expect(await spool.textContent()).toBe('empty: every message accepted over SMTP is stored');
        expect(await t.services.db.selectFrom('submission_spool').selectAll().execute()).toEqual([]);
      } finally {
        await t.services.db.deleteFrom('submission_spool').execute();
      }
      await shot(page, 'operator-system');
    });
  });

  it('shows a message held for later as Scheduled (time), and cancels it', async () => {
    const { id } = await send({
      ...incidentExample(),
      to: 'later@example.com',
      send_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(await status(id)).toBe('scheduled');
    await withPage(async (page) => {
      await page.goto(`${base}/admin/messages/${id}`);
      await page.getByText(/^Scheduled \(/).waitFor();
      await page.getByRole('button', { name: 'Cancel sending' }).click();
      await page.getByText('Cancelled').first().waitFor();
    });
    expect(await status(id)).toBe('cancelled');
  });

  it('reads a bounce as what it said, warns before a Resend to the suppressed address, and before a Retry of a permanent failure', async () => {
    // Addresses of this run's own: a retry of the test must not meet the suppression the first run added.
    const run = randomUUID();
    const gone = `gone-${run.slice(0, 8)}@example.com`;
    const bounced = await send({ ...incidentExample(), to: gone });
    await eventually(() => status(bounced.id)).toBe('captured');
    const now = Date.now();
    // What the SES receiver records for a permanent bounce (its own tests cover that path).
    await t.services.db
      .updateTable('email_messages')
      .set({ status: 'bounced', bounce_type: 'Permanent', bounce_subtype: 'General', updated_at: now })
      .where('id', '=', bounced.id)
      .execute();
    await t.services.db
      .insertInto('email_suppressions')
      .values({
        id: run,
        email: gone,
        scope: 'all',
        reason: 'bounce',
        source: 'ses',
        source_event: null,
        message_id: bounced.id,
        details: '550 5.1.1 user unknown',
        created_by: null,
        created_at: now,
      })
      .execute();
    await t.services.events.record(t.services.db, [
      {
        messageId: bounced.id,
        type: 'bounced',
        at: now,
        data: {
          bounce_type: 'Permanent',
          bounce_subtype: 'General',
          feedback_id: 'fb-0001',
          recipients: [{ email: gone, status: '5.1.1', diagnostic: 'smtp; 550 5.1.1 user unknown' }],
          suppressed: [gone],
        },
      },
    ]);
    const failed = await send({ ...incidentExample(), to: `refused-${run.slice(0, 8)}@example.com` });
    await eventually(() => status(failed.id)).toBe('captured');
    await t.services.db.updateTable('email_messages').set({ status: 'failed' }).where('id', '=', failed.id).execute();
    await t.services.events.record(t.services.db, [
      {
        messageId: failed.id,
        type: 'attempt',
        at: now,
        data: { attempt: 1, code: 550, response: '550 5.1.1 user unknown', duration_ms: 4 },
      },
    ]);

    await withPage(async (page) => {
      const dialogs: string[] = [];
      page.on('dialog', (d) => dialogs.push(d.message()));
      await page.getByText('Permanent/General 5.1.1').first().waitFor(); // the dashboard's reason
      await page.goto(`${base}/admin/messages/${bounced.id}`);
      const card = page.locator('.card.feedback');
      await card.waitFor();
      const text = await card.textContent();
      for (const s of ['Permanent / General', '5.1.1', 'smtp; 550 5.1.1 user unknown', 'fb-0001', gone])
        expect(text).toContain(s);
      await page.locator('.advice').first().waitFor();
      await page.getByRole('button', { name: 'Resend' }).click();
      await eventually(() => dialogs.join(' ')).toContain('is suppressed (bounce)');
      await shot(page, 'operator-feedback');

      await page.goto(`${base}/admin/messages/${failed.id}`);
      await page.getByText('The failure was permanent (550 5.1.1 user unknown)').waitFor();
      await page.getByRole('button', { name: 'Retry' }).click();
      await eventually(() => dialogs.join(' ')).toContain('refused this message permanently');
      // Accepted: the message goes back to the queue, and the page follows it to its new status.
      await page.locator('.page-head .badge').getByText('Captured (not delivered)').waitFor({ timeout: 25_000 });
    });
  }, 60_000);

  it('creates a template, declares a variable from the editor, edits its settings, duplicates, deactivates and deletes it', async () => {
    await withPage(async (page) => {
      await page.goto(`${base}/admin/templates`);
      await page.getByRole('button', { name: 'New template' }).click();
      await page.getByLabel('Key').fill('welcome_ui');
      await page.locator('form.new-template').getByLabel('Name').fill('Welcome');
      await page.locator('form.new-template').getByLabel('Category').fill('onboarding');
      await page.getByRole('button', { name: 'Create' }).click();
      await page.getByRole('heading', { name: 'Welcome' }).waitFor();
      await page.locator('.cm-content[data-field="html_content"]').waitFor();

      // The HTML reads a variable nobody declared: the editor offers to declare it.
      await page.locator('.cm-content[data-field="html_content"]').click();
      await page.keyboard.press('End');
      await page.keyboard.type(' {{ coupon }}');
      await page.getByRole('button', { name: 'Declare coupon' }).click();
      await page.getByText('To be declared with the next save: coupon').waitFor();
      await page.getByRole('button', { name: 'Save as new version' }).click();
      await page.getByText(/Saved as version 2/).waitFor();
      const v2 = (await t.inject({ method: 'GET', url: '/api/v1/email/templates/welcome_ui' })).json();
      expect(v2.optional_variables).toEqual(['coupon']);

      await page.getByRole('tab', { name: 'Settings' }).click();
      await page.getByRole('heading', { name: 'Variables' }).waitFor();
      await page.getByLabel('Kind of coupon').selectOption('required');
      await page.getByLabel('coupon is sensitive').check();
      await page.getByRole('button', { name: 'Save variables' }).click();
      await page.getByText('Saved as version 3.').waitFor();
      await page.getByLabel('New locale').fill('en');
      await page.getByRole('button', { name: /^Add \(a copy/ }).click();
      await eventually(async () =>
        Object.keys(
          (await t.inject({ method: 'GET', url: '/api/v1/email/templates/welcome_ui' })).json().locales,
        ).sort(),
      ).toEqual(['en', 'fr']);
      const after = (await t.inject({ method: 'GET', url: '/api/v1/email/templates/welcome_ui' })).json();
      expect(after).toMatchObject({ required_variables: ['coupon'], sensitive_variables: ['coupon'], version: 4 });

      await page.getByRole('tab', { name: 'Versions' }).click();
      await page.getByRole('button', { name: 'Preview v1' }).click();
      await page.getByRole('heading', { name: /^Version 1, rendered/ }).waitFor();
      expect((await t.inject({ method: 'GET', url: '/api/v1/email/templates/welcome_ui' })).json().version).toBe(4);

      await page.getByRole('tab', { name: 'Settings' }).click();
      page.removeAllListeners('dialog');
      page.on('dialog', (d) => answered(d.type() === 'prompt' ? d.accept('welcome_ui_copy') : d.accept()));
      await page.getByRole('button', { name: 'Duplicate' }).click();
      await page.waitForURL(/welcome_ui_copy$/);
      await page.getByRole('tab', { name: 'Settings' }).click();
      await page.getByRole('button', { name: 'Deactivate' }).click();
      await page.getByRole('button', { name: 'Activate', exact: true }).waitFor();
      expect((await t.inject({ method: 'GET', url: '/api/v1/email/templates/welcome_ui_copy' })).json().is_active).toBe(
        false,
      );
      await page.getByRole('button', { name: 'Delete' }).click();
      await page.waitForURL(/\/admin\/templates$/);
      expect((await t.inject({ method: 'GET', url: '/api/v1/email/templates/welcome_ui_copy' })).statusCode).toBe(404);
      await shot(page, 'operator-templates');
    });
  });

  it('edits, pauses, tests and retries a webhook, with the secret copied once', async () => {
    await withPage(async (page) => {
      await page.goto(`${base}/admin/settings/webhooks`);
      await page.getByLabel('Endpoint URL').fill(hookUrl);
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      await page.getByText('Signing secret (shown once):').waitFor();
      await page.getByRole('button', { name: 'Copy' }).waitFor();
      const card = page.locator('.card.webhook').first();
      await card.getByRole('button', { name: 'Edit' }).click();
      await card.getByLabel('Description').fill('CRM');
      await card.getByRole('button', { name: 'Save' }).click();
      await card.getByText('CRM').waitFor();

      await card.getByRole('button', { name: 'Pause' }).click();
      await card.getByText('Paused', { exact: true }).waitFor();
      expect(await card.getByRole('button', { name: 'Send test event' }).isDisabled()).toBe(true);
      await card.getByRole('button', { name: 'Resume' }).click();
      await card.getByText('Active', { exact: true }).waitFor();

      hookReplies.push(500);
      await card.getByRole('button', { name: 'Send test event' }).click();
      await eventually(() => hookBodies.some((b) => b.includes('email.test'))).toBe(true);
      await card.getByText('Recent deliveries').click();
      await eventually(async () => {
        await card.getByRole('button', { name: 'Refresh' }).click();
        return card.getByRole('button', { name: 'Retry' }).count();
      }).toBeGreaterThan(0);
      const before = hookBodies.length;
      await card.getByRole('button', { name: 'Retry' }).click();
      await eventually(() => hookBodies.length).toBeGreaterThan(before);
      await eventually(async () => {
        await card.getByRole('button', { name: 'Refresh' }).click();
        return card.locator('tbody').textContent();
      }).toContain('Delivered');
      await shot(page, 'operator-webhooks');
    });
  });

  it('keeps the capture inbox live, searches it, links to the archive, masks sensitive values and deletes', async () => {
    await withPage(async (page) => {
      await page.goto(`${base}/admin/inbox`);
      await page.getByText('Live', { exact: true }).waitFor();
      // A mail captured while the page is open shows up without a reload.
      const { id } = await send({
        to: 'client@techconnect.bj',
        template_key: 'instance_provisioned',
        variables: {
          customer_name: 'Aminata',
          instance_name: 'erp',
          protocol: 'https',
          domain: 'erp.cloud.rgz.bj',
          login: 'admin@techconnect.bj',
          password: 'S3cret-Pa55word',
          plan: 'Business',
        },
      });
      await page.locator('.inbox-list').getByText('client@techconnect.bj').waitFor({ timeout: 15_000 });

      await page.getByLabel('Search the captured mail').fill('CLIENT@techconnect');
      await eventually(() => page.locator('.inbox-list li').count()).toBe(1);
      await page.locator('.inbox-list a').first().click();
      await page.getByRole('link', { name: 'The archived message' }).waitFor();
      await page.getByText(/Sensitive values are masked here/).waitFor();
      expect(await page.getByRole('button', { name: 'Download .eml' }).isDisabled()).toBe(true);
      await page.getByRole('tab', { name: 'Text' }).click();
      const text = await page.locator('.inbox-mail pre').textContent();
      expect(text).toContain('••••••••');
      expect(text).not.toContain('S3cret-Pa55word');
      await page.getByRole('tab', { name: 'Links' }).click();
      await page.locator('table.links').waitFor();
      await shot(page, 'operator-inbox');
      await page.getByRole('link', { name: 'The archived message' }).click();
      await page.waitForURL(new RegExp(`/messages/${id}$`));

      await page.goto(`${base}/admin/inbox`);
      await page.getByLabel('Search the captured mail').fill('client@techconnect');
      await eventually(() => page.locator('.inbox-list li').count()).toBe(1);
      await page.locator('.inbox-check').first().check();
      await page.getByRole('button', { name: 'Delete selected (1)' }).click();
      await page.getByText('No captured mail.').waitFor();
    });
    const left = (await t.inject({ method: 'GET', url: '/api/v1/dev/inbox?q=client@techconnect' })).json();
    expect(left.total).toBe(0);
  });
});
