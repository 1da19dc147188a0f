import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FeedbackProcessor,
  encodeVerpAddress,
  startInboundListener,
  verpKey,
  type InboundListener,
} from '../src/feedback/index.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { messageRow, sendOk } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { dsn, sendReport } from './helpers/reports.js';

const DOMAIN = 'bounces.rgz.bj';

/**
 * Hostile report structures mailed to the listener over real SMTP: each is stored, classified and
 * applied on both databases (PostgreSQL's text holds no NUL), never left pending or failed.
 */
describe.each(backends)('hostile reports by mail on %s', (backend) => {
  let t: TestContext;
  let listener: InboundListener;
  let processor: FeedbackProcessor;

  beforeAll(async () => {
    t = await createTestContext(backend, { BOUNCE_DOMAIN: DOMAIN });
    listener = await startInboundListener({
      db: t.services.db,
      config: t.config,
      log: t.services.log,
      port: 0,
      host: '127.0.0.1',
    });
    processor = new FeedbackProcessor(t.services, { owner: 'fbmail-hostile' });
  });
  afterAll(async () => {
    await listener?.close();
    await t?.close();
  });

  let n = 0;
  async function sentMessage() {
    const to = `user${++n}-${backend}@example.com`;
    const [id] = await sendOk(t, { ...incidentExample(), to });
    await t.services.db.updateTable('email_messages').set({ status: 'sent' }).where('id', '=', id!).execute();
    return { id: id!, to, returnPath: encodeVerpAddress(id!, verpKey(t.config), DOMAIN) };
  }
  const reportOf = async (response: string) => {
    const id = /report ([0-9a-f-]{36})/.exec(response)![1]!;
    return t.services.db.selectFrom('feedback_reports').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  };

  it('a NUL or an unpaired surrogate in what a report says is stored as U+FFFD, and the report applied', async () => {
    const cases = [
      // A NUL in the diagnostic, written raw in the delivery-status part.
      { diagnostic: 'smtp; 550 5.1.1 <x>: no such\u0000user', expect: 'no such\uFFFDuser' },
      // An encoded word decoding to a lone surrogate (UTF-8 of U+D800) and to a NUL.
      { diagnostic: 'smtp; 550 5.1.1 =?utf-8?b?7aCA?= =?utf-8?q?a=00b?= unknown', expect: '\uFFFD' },
    ];
    for (const c of cases) {
      const m = await sentMessage();
      const res = await sendReport(
        listener.port,
        { from: '', to: [m.returnPath] },
        dsn({ to: m.returnPath, recipient: m.to, messageId: '<x@y>', diagnostic: c.diagnostic }),
      );
      await processor.drain();
      const r = await reportOf(res.response);
      expect(r).toMatchObject({ state: 'classified', kind: 'hard_bounce', message_id: m.id, error: null });
      expect(r.diagnostic).toContain(c.expect);
      expect(r.diagnostic).not.toContain('\u0000');
      expect(r.diagnostic!.isWellFormed()).toBe(true);
      expect(await messageRow(t, m.id)).toMatchObject({ status: 'bounced', bounce_category: 'unknown_user' });
      const suppressed = await t.services.db
        .selectFrom('email_suppressions')
        .select('details')
        .where('email', '=', m.to)
        .executeTakeFirstOrThrow();
      expect(suppressed.details).not.toContain('\u0000');
    }
  });
});
