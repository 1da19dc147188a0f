import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedbackProcessor, ImapPoller, encodeVerpAddress, verpKey } from '../src/feedback/index.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { messageRow, sendOk } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { autoReply, dsn } from './helpers/reports.js';
import { type Dovecot, hasDovecot, startDovecot } from './support/dovecot.js';

const DOMAIN = 'bounces.rgz.bj';

/**
 * BOUNCE_IMAP_URL against a real Dovecot started for this file: reports delivered to the
 * mailbox are stored, moved to the done folder, and classified like those of the listener.
 */
// Skipped only on a developer's machine without Dovecot; CI installs it (.ci/run), so there it must run.
describe.skipIf(!hasDovecot() && !process.env.CI).each(backends)(
  'feedback from an IMAP mailbox (Dovecot) on %s',
  (backend) => {
    let dovecot: Dovecot;
    let t: TestContext;
    let processor: FeedbackProcessor;
    beforeAll(async () => {
      dovecot = await startDovecot();
      t = await createTestContext(backend, {
        BOUNCE_DOMAIN: DOMAIN,
        BOUNCE_IMAP_URL: dovecot.url(),
        BOUNCE_IMAP_DONE_FOLDER: 'Handled',
      });
      processor = new FeedbackProcessor(t.services, { owner: 'imap-test' });
    }, 30_000);
    afterAll(async () => {
      await t?.close();
      await dovecot?.stop();
    });

    /** What a mail server does when a report arrives for the mailbox. */
    async function deliver(raw: string, mailbox = 'INBOX') {
      const client = new ImapFlow({
        host: '127.0.0.1',
        port: dovecot.port,
        secure: false,
        auth: { user: dovecot.user, pass: dovecot.password },
        logger: false,
      });
      await client.connect();
      try {
        await client.append(mailbox, raw);
      } finally {
        await client.logout();
      }
    }
    async function count(mailbox: string): Promise<number> {
      const client = new ImapFlow({
        host: '127.0.0.1',
        port: dovecot.port,
        secure: false,
        auth: { user: dovecot.user, pass: dovecot.password },
        logger: false,
      });
      await client.connect();
      try {
        const s = await client.status(mailbox, { messages: true });
        return s ? (s.messages ?? 0) : 0;
      } finally {
        await client.logout();
      }
    }

    it('stores each message, moves it to the done folder, and the processor applies it like a mailed report', async () => {
      const to = `imap-${backend}@example.com`;
      const [id] = await sendOk(t, { ...incidentExample(), to });
      await t.services.db.updateTable('email_messages').set({ status: 'sent' }).where('id', '=', id!).execute();
      const row = await messageRow(t, id!);
      const returnPath = encodeVerpAddress(id!, verpKey(t.config), DOMAIN);
      // Fetched by IMAP there is no envelope: the VERP address is in Delivered-To, the report's own header.
      await deliver(`Delivered-To: ${returnPath}\r\n${dsn({ to: returnPath, recipient: to, messageId: '<x@y>' })}`);
      await deliver(autoReply({ to: 'bounces@rgz.bj', from: 'someone@example.com', messageId: row.smtp_message_id }));

      const poller = new ImapPoller({ db: t.services.db, config: t.config, log: t.services.log });
      const r = await poller.poll();
      expect(r).toMatchObject({ stored: 2, moved: 2 });
      expect(await count('INBOX')).toBe(0);
      expect(await count('Handled')).toBe(2);

      await processor.drain();
      const reports = await t.services.db.selectFrom('feedback_reports').selectAll().orderBy('id').execute();
      expect(reports.map((x) => [x.source, x.kind, x.match_method])).toEqual([
        ['imap', 'hard_bounce', 'verp'],
        ['imap', 'auto_reply', 'message_id'],
      ]);
      expect(await messageRow(t, id!)).toMatchObject({ status: 'bounced', bounce_category: 'unknown_user' });

      // Nothing new: nothing stored, nothing moved.
      expect(await poller.poll()).toMatchObject({ stored: 0, moved: 0 });
    });

    it('a message stored but not moved (a crash in between) is one report when polled again', async () => {
      const raw = dsn({ to: `postmaster@${DOMAIN}`, recipient: 'again@example.com', messageId: '<again@x>' });
      await deliver(raw);
      await deliver(raw, 'INBOX');
      const poller = new ImapPoller({ db: t.services.db, config: t.config, log: t.services.log });
      expect(await poller.poll()).toMatchObject({ stored: 1, duplicates: 1, moved: 2 });
    });

    it('a wrong password fails the poll with an error and stores nothing', async () => {
      const config = {
        ...t.config,
        feedback: { ...t.config.feedback, imapUrl: dovecot.url().replace(dovecot.password, 'wrong') },
      };
      const poller = new ImapPoller({ db: t.services.db, config, log: t.services.log });
      await expect(poller.poll()).rejects.toThrow();
    });
  },
);
