import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import {
  FeedbackProcessor,
  decodeVerpAddress,
  startInboundListener,
  storeReport,
  verpKey,
} from '../src/feedback/index.js';
import type { InboundListener } from '../src/feedback/index.js';
import { housekeeping } from '../src/retention/housekeeping.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { eventTypes, messageRow, sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { arf, autoReply, dsn, sendReport } from './helpers/reports.js';
import { SmtpSink } from './support/smtp-sink.js';

const DOMAIN = 'bounces.rgz.bj';

/**
 * Reports received by mail, end to end: the worker sends with a VERP envelope sender, a relay
 * returns a report over SMTP to the listener, the report is stored raw (250), the processor
 * classifies it and applies it through the one apply function.
 */
// The two databases side by side: much of a run is waiting on SMTP sessions and the processor's
// rounds with the CPU idle. The tests of one database run in order: they share its listener.
describe.concurrent.each(backends)('feedback reports by mail on %s', (backend) => {
  describe.sequential('in order', () => {
    let t: TestContext;
    let sink: SmtpSink;
    let listener: InboundListener;
    let processor: FeedbackProcessor;
    const stored: number[] = [];

    beforeAll(async () => {
      sink = await SmtpSink.start();
      t = await createTestContext(
        backend,
        sink.env({ WORKER_POLL_MS: '20', BOUNCE_DOMAIN: DOMAIN, SOFT_BOUNCE_LIMIT: '3', SOFT_BOUNCE_DAYS: '7' }),
      );
      listener = await startInboundListener({
        db: t.services.db,
        config: t.config,
        log: t.services.log,
        port: 0,
        host: '127.0.0.1',
        onStored: () => stored.push(Date.now()),
      });
      processor = new FeedbackProcessor(t.services, { owner: 'test-processor' });
    });
    afterAll(async () => {
      await listener.close();
      await t.close();
      await sink.close();
    });

    let n = 0;
    /** Sends through the worker to the sink: the message is `sent`, its VERP return path known. */
    async function sentMessage(payload: object = {}) {
      const to = (payload as { to?: string }).to ?? `user${++n}-${backend}@example.com`;
      const [id] = await sendOk(t, { ...incidentExample(), to, ...payload });
      const worker = startWorker(t.services, smtpTarget(t.services, null));
      try {
        await waitForStatus(t, [id!], ['sent']);
      } finally {
        await worker.stop();
      }
      const m = sink.accepted.findLast((a) => a.envelope.to.includes(to))!;
      const row = await messageRow(t, id!);
      return { id: id!, to, returnPath: m.envelope.from, messageIdHeader: row.smtp_message_id };
    }
    const report = (id: string) =>
      t.services.db.selectFrom('feedback_reports').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const suppressions = async (email: string) =>
      (await t.inject({ method: 'GET', url: `/api/v1/email/suppressions?email=${encodeURIComponent(email)}` })).json()
        .items;
    const reportIdOf = (response: string) => /report ([0-9a-f-]{36})/.exec(response)![1]!;

    it('sends each message with a signed VERP envelope sender naming it, the From header unchanged', async () => {
      const m = await sentMessage();
      expect(m.returnPath).toMatch(/^bounces\+[a-z2-7]{42}@bounces\.rgz\.bj$/);
      expect(decodeVerpAddress(m.returnPath, verpKey(t.config), DOMAIN)).toBe(m.id);
      const mail = await sink.parse(sink.accepted.find((a) => a.envelope.from === m.returnPath)!);
      expect(mail.from?.value[0]?.address).toBe('noreply@rgz.bj');
    });

    it('stores a bounce sent to the return path, classifies it off the listener, bounces the message and suppresses the address', async () => {
      const m = await sentMessage();
      const res = await sendReport(
        listener.port,
        { from: '', to: [m.returnPath] },
        dsn({ to: m.returnPath, recipient: m.to, messageId: '<unrelated@example.org>' }),
      );
      expect(res.response).toMatch(/^250 /);
      const id = reportIdOf(res.response);
      // Stored before the 250, not yet classified: the listener does no more than store.
      expect(await report(id)).toMatchObject({ state: 'pending', source: 'smtp', envelope_from: '' });
      expect(await processor.drain()).toBeGreaterThanOrEqual(1);
      expect(await report(id)).toMatchObject({
        state: 'classified',
        kind: 'hard_bounce',
        category: 'unknown_user',
        recipient: m.to,
        status_code: '5.1.1',
        message_id: m.id,
        match_method: 'verp',
      });
      const row = await messageRow(t, m.id);
      expect(row).toMatchObject({ status: 'bounced', bounce_type: 'Permanent', bounce_category: 'unknown_user' });
      const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${m.id}` })).json();
      expect(msg.events.at(-1)).toMatchObject({
        type: 'bounced',
        data: { source: 'report', kind: 'hard_bounce', category: 'unknown_user', status_code: '5.1.1', report_id: id },
      });
      expect(await suppressions(m.to)).toEqual([
        expect.objectContaining({ scope: 'all', reason: 'bounce', source: 'report', message_id: m.id }),
      ]);
      // The same bytes again (a relay retrying after a lost 250): one report.
      const again = await sendReport(listener.port, { from: '', to: [m.returnPath] }, (await report(id)).raw);
      expect(again.response).toContain(`report ${id} (already received)`);
    });

    it('refuses mail for any other domain (never a relay) and a forged or altered return path', async () => {
      await expect(
        sendReport(listener.port, { from: 'a@example.net', to: ['someone@example.com'] }, 'Subject: x\r\n\r\nhi\r\n'),
      ).rejects.toMatchObject({ responseCode: 550 });
      const m = await sentMessage();
      const altered = m.returnPath.replace(/\+(.)/, (_s, c: string) => `+${c === 'a' ? 'b' : 'a'}`);
      await expect(
        sendReport(
          listener.port,
          { from: '', to: [altered] },
          dsn({ to: altered, recipient: m.to, messageId: '<x@y>' }),
        ),
      ).rejects.toMatchObject({ responseCode: 550 });
      expect((await messageRow(t, m.id)).status).toBe('sent');
    });

    it('refuses a report larger than INBOUND_SMTP_MAX_MB with 552 and keeps listening', async () => {
      const m = await sentMessage();
      const huge = `Subject: big\r\n\r\n${'x'
        .repeat(1000)
        .concat('\r\n')
        .repeat(11 * 1024)}`;
      await expect(sendReport(listener.port, { from: '', to: [m.returnPath] }, huge)).rejects.toMatchObject({
        responseCode: 552,
      });
      const ok = await sendReport(listener.port, { from: '', to: [`fbl@${DOMAIN}`] }, 'Subject: hello\r\n\r\nhi\r\n');
      expect(ok.response).toMatch(/^250 /);
    });

    it('matches by the returned Message-ID when there is no VERP token, and keeps an unmatched report', async () => {
      const m = await sentMessage();
      const matched = await sendReport(
        listener.port,
        { from: '', to: [`postmaster@${DOMAIN}`] },
        dsn({
          to: `postmaster@${DOMAIN}`,
          recipient: m.to,
          messageId: m.messageIdHeader,
          status: '5.2.2',
          diagnostic: 'smtp; 552 5.2.2 Mailbox full',
        }),
      );
      const unmatched = await sendReport(
        listener.port,
        { from: '', to: [`postmaster@${DOMAIN}`] },
        dsn({ to: `postmaster@${DOMAIN}`, recipient: 'ghost@example.com', messageId: '<not-ours@example.org>' }),
      );
      await processor.drain();
      expect(await report(reportIdOf(matched.response))).toMatchObject({
        message_id: m.id,
        match_method: 'message_id',
        category: 'mailbox_full',
      });
      expect(await report(reportIdOf(unmatched.response))).toMatchObject({
        state: 'classified',
        kind: 'hard_bounce',
        message_id: null,
        match_method: 'none',
      });
      // A full mailbox bounces the message but does not suppress the address at once.
      expect(await messageRow(t, m.id)).toMatchObject({ status: 'bounced', bounce_category: 'mailbox_full' });
      expect(await suppressions(m.to)).toEqual([]);
      // Anyone may mail the listener: a report about no message of ours suppresses nobody (it waits
      // for a person, in the attention list).
      expect(await suppressions('ghost@example.com')).toEqual([]);
      const attention = (await t.inject({ method: 'GET', url: '/api/v1/feedback/reports?attention=true' })).json();
      expect(attention.items.map((r: { id: string }) => r.id)).toContain(reportIdOf(unmatched.response));
      expect(attention.items.map((r: { id: string }) => r.id)).not.toContain(reportIdOf(matched.response));
    });

    it('a bounce of a cc address is recorded on the message without bouncing it, and suppresses the cc', async () => {
      const cc = `copy-${backend}@example.com`;
      const m = await sentMessage({ cc });
      const res = await sendReport(
        listener.port,
        { from: '', to: [m.returnPath] },
        dsn({ to: m.returnPath, recipient: cc, messageId: m.messageIdHeader }),
      );
      await processor.drain();
      expect(await report(reportIdOf(res.response))).toMatchObject({ recipient: cc, message_id: m.id });
      expect((await messageRow(t, m.id)).status).toBe('sent');
      const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${m.id}` })).json();
      expect(msg.events.at(-1)).toMatchObject({ type: 'bounced', data: { recipient: cc, status_unchanged: 'sent' } });
      expect(await suppressions(cc)).toEqual([expect.objectContaining({ reason: 'bounce' })]);
      expect(await suppressions(m.to)).toEqual([]);
    });

    it('records an auto-reply as auto_replied on its message, never a bounce, no suppression', async () => {
      const m = await sentMessage();
      const res = await sendReport(
        listener.port,
        { from: m.to, to: [m.returnPath] },
        autoReply({ to: m.returnPath, from: m.to, messageId: m.messageIdHeader }),
      );
      await processor.drain();
      expect(await report(reportIdOf(res.response))).toMatchObject({ kind: 'auto_reply', message_id: m.id });
      expect((await messageRow(t, m.id)).status).toBe('sent');
      expect((await eventTypes(t, m.id)).at(-1)).toBe('auto_replied');
      expect(await suppressions(m.to)).toEqual([]);
    });

    it('suppresses after SOFT_BOUNCE_LIMIT soft bounces in the window, not before', async () => {
      const to = `soft-${backend}@example.com`;
      const reports: string[] = [];
      for (let i = 0; i < 3; i++) {
        const m = await sentMessage({ to });
        const res = await sendReport(
          listener.port,
          { from: '', to: [m.returnPath] },
          dsn({
            to: m.returnPath,
            recipient: to,
            messageId: m.messageIdHeader,
            status: '4.4.7',
            diagnostic: 'smtp; 451 4.4.7 delivery time expired',
          }),
        );
        reports.push(reportIdOf(res.response));
        await processor.drain();
        expect(await suppressions(to)).toEqual(
          i < 2 ? [] : [expect.objectContaining({ reason: 'bounce', scope: 'all' })],
        );
      }
      expect(await report(reports[0]!)).toMatchObject({ kind: 'soft_bounce' });
    });

    it('a complaint suppresses the address for the class of mail it complained about', async () => {
      const m = await sentMessage({
        template_key: 'cutover_reminder',
        variables: { reseller_name: 'X', items_done: 1, items_total: 2, link_portal: 'https://rgz.bj' },
      });
      await sendReport(
        listener.port,
        { from: 'feedback@fbl.example.net', to: [m.returnPath] },
        arf({ to: m.returnPath, recipient: m.to, messageId: m.messageIdHeader }),
      );
      await processor.drain();
      expect((await messageRow(t, m.id)).status).toBe('complaint');
      expect(await suppressions(m.to)).toEqual([
        expect.objectContaining({ reason: 'complaint', scope: 'marketing', source: 'report' }),
      ]);
      // Transactional mail still goes to the address.
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        payload: { ...incidentExample(), to: m.to },
      });
      expect(res.json().items[0].status).toBe('queued');
    });

    it('a report stored but not classified (a crash between the two) is picked up again; an expired lease too', async () => {
      const m = await sentMessage();
      const { id } = await storeReport(t.services.db, {
        source: 'smtp',
        envelopeFrom: '',
        envelopeTo: [m.returnPath],
        raw: Buffer.from(dsn({ to: m.returnPath, recipient: m.to, messageId: '<a@b>' })),
        receivedAt: Date.now(),
      });
      // A worker leased it and died: its lease is still running, so nobody else takes it yet.
      await t.services.db
        .updateTable('feedback_reports')
        .set({ lease_owner: 'dead-worker', lease_expires_at: Date.now() + 60_000, attempts: 1 })
        .where('id', '=', id)
        .execute();
      const other = new FeedbackProcessor(t.services, { owner: 'another-worker' });
      await other.drain();
      expect(await report(id)).toMatchObject({ state: 'pending', lease_owner: 'dead-worker' });
      await t.services.db
        .updateTable('feedback_reports')
        .set({ lease_expires_at: Date.now() - 1 })
        .where('id', '=', id)
        .execute();
      await other.drain();
      expect(await report(id)).toMatchObject({ state: 'classified', message_id: m.id, attempts: 2 });
      expect((await messageRow(t, m.id)).status).toBe('bounced');
    });

    it('applies a batch in one transaction, and when that fails applies its reports one by one: one bad report holds back no other', async () => {
      const [a, b] = [await sentMessage(), await sentMessage()];
      const store = (m: typeof a) =>
        storeReport(t.services.db, {
          source: 'smtp',
          envelopeFrom: '',
          envelopeTo: [m.returnPath],
          raw: Buffer.from(dsn({ to: m.returnPath, recipient: m.to, messageId: '<a@b>' })),
          receivedAt: Date.now(),
        });
      const good = (await store(a)).id;
      const bad = (await store(b)).id;
      // The database refuses to mark the bad one classified: a real failure inside the batch's transaction.
      if (backend === 'sqlite') {
        await sql`CREATE TRIGGER poison BEFORE UPDATE ON feedback_reports
        WHEN NEW.id = ${sql.lit(bad)} AND NEW.state = 'classified'
        BEGIN SELECT RAISE(ABORT, 'poisoned report'); END`.execute(t.services.db);
      } else {
        await sql`CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'poisoned report'; END $$`.execute(t.services.db);
        await sql`CREATE TRIGGER poison BEFORE UPDATE ON feedback_reports FOR EACH ROW
        WHEN (NEW.id = ${sql.lit(bad)} AND NEW.state = 'classified') EXECUTE FUNCTION poison()`.execute(t.services.db);
      }
      try {
        const p = new FeedbackProcessor(t.services, { owner: 'batch-worker' });
        await p.drain();
        expect(await report(good)).toMatchObject({ state: 'classified', message_id: a.id });
        expect((await messageRow(t, a.id)).status).toBe('bounced');
        const held = await report(bad);
        expect(held).toMatchObject({ state: 'pending', lease_owner: null, attempts: 1 });
        expect(held.error).toContain('poisoned report');
        expect((await messageRow(t, b.id)).status).toBe('sent');
        expect(p.processed).toBe(1);
      } finally {
        await sql`DROP TRIGGER poison${sql.raw(backend === 'sqlite' ? '' : ' ON feedback_reports')}`.execute(
          t.services.db,
        );
        if (backend !== 'sqlite') await sql`DROP FUNCTION poison()`.execute(t.services.db);
      }
      // Once the database takes it again, the next pass (after its back-off) applies it.
      await t.services.db
        .updateTable('feedback_reports')
        .set({ lease_expires_at: null })
        .where('id', '=', bad)
        .execute();
      await new FeedbackProcessor(t.services, { owner: 'batch-worker' }).drain();
      expect(await report(bad)).toMatchObject({ state: 'classified', message_id: b.id, attempts: 2 });
    });

    it('takes garbage, 10,000 parts and binary bytes as unclassified entries and keeps running', async () => {
      const parts = Array.from(
        { length: 10_000 },
        (_, i) => `--Z\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`,
      ).join('');
      const inputs = [
        `Content-Type: multipart/mixed; boundary="Z"\r\nSubject: many\r\n\r\n${parts}--Z--\r\n`,
        Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256)),
        'Content-Type: multipart/report; boundary=\r\n\r\n--\r\n--\r\n',
      ];
      const ids: string[] = [];
      for (const raw of inputs) {
        const res = await sendReport(listener.port, { from: 'x@example.net', to: [`abuse@${DOMAIN}`] }, raw);
        ids.push(reportIdOf(res.response));
      }
      await processor.drain();
      for (const id of ids)
        expect(await report(id)).toMatchObject({ state: 'classified', kind: 'unclassified', message_id: null });
      expect(stored.length).toBeGreaterThan(0);
    });

    it('takes a flood of reports on many connections: every one stored once, every one classified', async () => {
      const n = 120;
      const raws = Array.from({ length: n }, (_, i) =>
        dsn({ to: `postmaster@${DOMAIN}`, recipient: `flood${i}-${backend}@example.com`, messageId: `<f${i}@x>` }),
      );
      let next = 0;
      const ids: string[] = [];
      await Promise.all(
        Array.from({ length: 12 }, async () => {
          while (next < raws.length) {
            const raw = raws[next++]!;
            const res = await sendReport(listener.port, { from: '', to: [`postmaster@${DOMAIN}`] }, raw);
            ids.push(reportIdOf(res.response));
          }
        }),
      );
      expect(new Set(ids).size).toBe(n);
      await processor.drain();
      const rows = await t.services.db
        .selectFrom('feedback_reports')
        .select(['state', 'kind'])
        .where('id', 'in', ids)
        .execute();
      expect(rows).toHaveLength(n);
      expect(rows.every((r) => r.state === 'classified' && r.kind === 'hard_bounce')).toBe(true);
    });

    it('classifies a raw report through the API without changing anything', async () => {
      const m = await sentMessage();
      const raw = dsn({ to: m.returnPath, recipient: m.to, messageId: m.messageIdHeader });
      const before = await eventTypes(t, m.id);
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/feedback/classify',
        headers: { 'content-type': 'message/rfc822' },
        payload: raw,
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        kind: 'hard_bounce',
        category: 'unknown_user',
        recipient: m.to,
        status: '5.1.1',
        matched_message_id: m.id,
        // The report's To is the return path: its token names the message.
        match_method: 'verp',
        reason: 'dsn_failed_permanent',
      });
      expect(await eventTypes(t, m.id)).toEqual(before);
      expect((await messageRow(t, m.id)).status).toBe('sent');
      expect(await suppressions(m.to)).toEqual([]);
      const anonymous = await t.inject({ method: 'POST', url: '/api/v1/feedback/classify', token: null, payload: raw });
      expect(anonymous.statusCode).toBe(401);
    });

    it('lists a message’s reports, shows one with its raw bytes, and re-classifies it once', async () => {
      const m = await sentMessage();
      const res = await sendReport(
        listener.port,
        { from: '', to: [m.returnPath] },
        dsn({ to: m.returnPath, recipient: m.to, messageId: '<z@z>' }),
      );
      const id = reportIdOf(res.response);
      await processor.drain();
      const list = (await t.inject({ method: 'GET', url: `/api/v1/feedback/reports?message_id=${m.id}` })).json();
      expect(list.items).toEqual([expect.objectContaining({ id, kind: 'hard_bounce', suppressed: [m.to] })]);
      const one = (await t.inject({ method: 'GET', url: `/api/v1/feedback/reports/${id}` })).json();
      expect(one.raw).toContain('Undelivered Mail Returned to Sender');
      expect(one.classification.reason).toBe('dsn_failed_permanent');
      const raw = await t.inject({ method: 'GET', url: `/api/v1/feedback/reports/${id}/raw` });
      expect(raw.headers['content-type']).toBe('message/rfc822');
      const before = await eventTypes(t, m.id);
      const re = await t.inject({ method: 'POST', url: `/api/v1/feedback/reports/${id}/reclassify` });
      expect(re.statusCode).toBe(202);
      expect(re.json().state).toBe('pending');
      await processor.drain();
      expect(await report(id)).toMatchObject({ state: 'classified', kind: 'hard_bounce' });
      // Its events were applied the first time: not twice.
      expect(await eventTypes(t, m.id)).toEqual(before);
      const missing = await t.inject({
        method: 'GET',
        url: '/api/v1/feedback/reports/01234567-89ab-7def-8123-456789abcdef',
      });
      expect(missing.statusCode).toBe(404);
      expect(missing.json().error.code).toBe('report_not_found');
    });

    it('erasing an address deletes the reports naming it; housekeeping deletes reports past the anonymization age', async () => {
      const m = await sentMessage();
      const res = await sendReport(
        listener.port,
        { from: '', to: [m.returnPath] },
        dsn({ to: m.returnPath, recipient: m.to, messageId: '<e@e>' }),
      );
      const id = reportIdOf(res.response);
      await processor.drain();
      const other = await sendReport(
        listener.port,
        { from: '', to: [`postmaster@${DOMAIN}`] },
        dsn({ to: `postmaster@${DOMAIN}`, recipient: 'keep-me@example.com', messageId: '<k@k>' }),
      );
      const kept = reportIdOf(other.response);
      await processor.drain();
      const erased = await t.inject({
        method: 'POST',
        url: `/api/v1/email/recipients/${encodeURIComponent(m.to)}/erase`,
      });
      expect(erased.json().feedback_reports).toBe(1);
      expect(await t.services.db.selectFrom('feedback_reports').select('id').where('id', '=', id).execute()).toEqual(
        [],
      );
      expect(
        await t.services.db.selectFrom('feedback_events').select('id').where('recipient', '=', m.to).execute(),
      ).toEqual([]);
      expect((await report(kept)).recipient).toBe('keep-me@example.com');

      const days = t.config.email.autoAnonymizeAfterDays;
      const r = await housekeeping(t.services, Date.now() + (days + 1) * 86_400_000);
      expect(r.feedback_reports).toBeGreaterThan(0);
      expect(await t.services.db.selectFrom('feedback_reports').select('id').execute()).toEqual([]);
    });
  });
});
