import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedbackProcessor, storeReport } from '../../src/feedback/index.js';
import { createTestContext, type TestContext } from '../helpers/context.js';
import { sendOk } from '../helpers/delivery.js';
import { incidentExample } from '../helpers/fixtures.js';
import { dsn } from '../helpers/reports.js';
import { launchBrowser, seriousA11yViolations, shot, withLoggedInPage } from './browser.js';

/**
 * Feedback in the admin UI: a message's bounce report with its reason and its "why", the page of
 * reports matched to no message, and the classifier tool.
 */
describe('feedback in the admin UI', () => {
  let t: TestContext;
  let browser: Browser;
  let base: string;
  let messageId: string;
  const to = 'jane.doe@example.com';

  beforeAll(async () => {
    t = await createTestContext('sqlite', { BOUNCE_DOMAIN: 'bounces.rgz.bj' });
    const [id] = await sendOk(t, { ...incidentExample(), to });
    messageId = id!;
    await t.services.db.updateTable('email_messages').set({ status: 'sent' }).where('id', '=', messageId).execute();
    const row = await t.services.db
      .selectFrom('email_messages')
      .select('smtp_message_id')
      .where('id', '=', messageId)
      .executeTakeFirstOrThrow();
    for (const raw of [
      dsn({ to: 'postmaster@bounces.rgz.bj', recipient: to, messageId: row.smtp_message_id }),
      dsn({ to: 'postmaster@bounces.rgz.bj', recipient: 'ghost@example.org', messageId: '<nobody@example.org>' }),
    ]) {
      await storeReport(t.services.db, {
        source: 'smtp',
        envelopeFrom: '',
        envelopeTo: ['postmaster@bounces.rgz.bj'],
        raw: Buffer.from(raw),
        receivedAt: Date.now(),
      });
    }
    await new FeedbackProcessor(t.services, { owner: 'ui-test' }).drain();
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const withPage = (fn: (page: Page) => Promise<void>) => withLoggedInPage(browser, base, fn);

  it('shows a bounced message’s report under it: kind, reason, status code, server’s words, suppression and why', async () => {
    await withPage(async (page) => {
      await page.goto(`${base}/admin/messages/${messageId}`);
      const card = page.locator('.card', {
        has: page.getByRole('heading', { name: 'Bounces, complaints and replies' }),
      });
      await card.waitFor();
      const text = await card.textContent();
      expect(text).toContain('Hard bounce');
      expect(text).toContain('Unknown user');
      expect(text).toContain('5.1.1');
      expect(text).toContain('User unknown in local recipient table');
      expect(text).toContain(to);
      expect(text).toContain('dsn_failed_permanent');
      // The message's details say why it bounced.
      expect(await page.locator('.kv').first().textContent()).toBeDefined();
      expect(await page.getByText('Bounce reason').isVisible()).toBe(true);
      await card.getByRole('button', { name: 'Show the report' }).click();
      await expect
        .poll(() => card.locator('.raw-report').textContent())
        .toContain('Undelivered Mail Returned to Sender');
      expect(await seriousA11yViolations(page)).toEqual([]);
      await shot(page, 'message-feedback');
    });
  });

  it('lists the report matched to no message on the Feedback page, and classifies a pasted message', async () => {
    await withPage(async (page) => {
      await page.getByRole('link', { name: 'Feedback', exact: true }).click();
      await page.getByRole('heading', { name: 'Reports to look at' }).waitFor();
      const reports = page.locator('.feedback-report');
      await expect.poll(() => reports.count()).toBe(1);
      expect(await reports.first().textContent()).toContain('ghost@example.org');
      expect(await reports.first().textContent()).toContain('No message of ours');

      await page.getByLabel('Raw message').fill(
        dsn({
          to: 'x@bounces.rgz.bj',
          recipient: 'full@example.com',
          messageId: '<m@x>',
          status: '5.2.2',
          diagnostic: 'smtp; 552 5.2.2 Mailbox full',
        }),
      );
      await page.getByRole('button', { name: 'Classify', exact: true }).click();
      const result = page.locator('.classification');
      await expect.poll(() => result.textContent()).toContain('Mailbox full');
      expect(await result.textContent()).toContain('full@example.com');
      expect(await seriousA11yViolations(page)).toEqual([]);
      await shot(page, 'feedback-page');
    });
  });

  it('re-classifies a report from the page (it goes back to pending)', async () => {
    await withPage(async (page) => {
      await page.goto(`${base}/admin/feedback`);
      await page.getByRole('button', { name: 'Classify again' }).click();
      await expect
        .poll(
          async () =>
            (
              await t.services.db
                .selectFrom('feedback_reports')
                .select('state')
                .where('recipient', '=', 'ghost@example.org')
                .executeTakeFirst()
            )?.state,
        )
        .toBe('pending');
    });
  });
});
