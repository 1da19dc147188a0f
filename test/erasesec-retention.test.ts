import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import { FeedbackProcessor, storeReport } from '../src/feedback/index.js';
import { anonymizeAddress } from '../src/platform/crypto/anon-key.js';
import { anonymizeOld, housekeeping, purgeExpired } from '../src/retention/index.js';
import { WebhookEnqueuer } from '../src/webhooks/index.js';
import { DAY } from './helpers/archive.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { waitForStatus } from './helpers/delivery.js';
import { invoiceExample } from './helpers/fixtures.js';
import { dsn } from './helpers/reports.js';
import { SmtpSink } from './support/smtp-sink.js';

/**
 * Retention on both databases: anonymization leaves the address nowhere in what was recorded
 * about the message (events quoting it in another case, webhook payloads), and the purge of a
 * day leaves nothing that belonged to its messages.
 */
describe.each(backends)('retention, traces and orphans, on %s', (backend) => {
  let t: TestContext;
  let sink: SmtpSink;
  let processor: FeedbackProcessor;
  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext(backend, sink.env({ WORKER_POLL_MS: '20' }));
    processor = new FeedbackProcessor(t.services, { owner: 'erasesec-retention' });
    const wh = await t.inject({
      method: 'POST',
      url: '/api/v1/webhooks',
      payload: { url: 'https://hooks.example.com/x', event_types: ['sent', 'bounced'] },
    });
    expect(wh.statusCode).toBe(201);
  });
  afterAll(async () => {
    await t.close();
    await sink.close();
  });

  /** Sends to `to` through the worker, then a bounce naming it (lower case) is classified; webhooks enqueued. */
  async function sentAndBounced(to: string, extra: object = {}) {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { ...invoiceExample(), to, ...extra },
    });
    expect(res.statusCode).toBe(201);
    const id = res.json().items[0].id as string;
    const worker = startWorker(t.services, smtpTarget(t.services, null));
    await waitForStatus(t, [id], ['sent']);
    await worker.stop();
    const m = await t.services.db
      .selectFrom('email_messages')
      .select('smtp_message_id')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    await storeReport(t.services.db, {
      source: 'smtp',
      envelopeFrom: '',
      envelopeTo: ['bounces@rgz.bj'],
      raw: Buffer.from(dsn({ to: 'bounces@rgz.bj', recipient: to.toLowerCase(), messageId: m.smtp_message_id })),
      receivedAt: Date.now(),
    });
    await processor.drain();
    await new WebhookEnqueuer(t.services.db, t.services.database.dialect, { owner: 'erasesec', gapWindowMs: 0 }).run();
    return id;
  }

  it('anonymization hashes the address in its events (any case), tags, metadata and webhook payloads', async () => {
    const to = 'Anon.Person@Old-Client.bj';
    const id = await sentAndBounced(to, { tags: ['vip', to.toLowerCase()], metadata: { contact: to } });
    const texts = async () => {
      const events = await t.services.db
        .selectFrom('email_events')
        .select('data')
        .where('message_id', '=', id)
        .execute();
      const payloads = await t.services.db
        .selectFrom('webhook_deliveries')
        .select('payload')
        .where('message_id', '=', id)
        .execute();
      const m = await t.services.db
        .selectFrom('email_messages')
        .select(['tags', 'metadata'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      return [...events.map((e) => e.data), ...payloads.map((p) => p.payload), m.tags, m.metadata].join('\n');
    };
    expect(await texts()).toMatch(/anon\.person@old-client\.bj/i);
    expect(
      (await t.services.db.selectFrom('webhook_deliveries').select('id').where('message_id', '=', id).execute()).length,
    ).toBe(2);

    await t.services.db
      .updateTable('email_messages')
      .set({ created_at: Date.now() - 100 * DAY })
      .where('id', '=', id)
      .execute();
    expect((await anonymizeOld(t.services, Date.now())).messages).toBe(1);
    const after = await texts();
    expect(after).not.toMatch(/anon\.person|old-client/i);
    expect(after).toContain(anonymizeAddress(t.config, to));
  });

  it('the purge of a day, then housekeeping, leave no row that belonged to its messages', async () => {
    const id = await sentAndBounced('purged.person@gone.bj');
    // The whole day is past every period: messages, reports, feedback events, deliveries.
    const old = Date.now() - 400 * DAY;
    await t.services.db.updateTable('email_messages').set({ created_at: old }).execute();
    await t.services.db.updateTable('feedback_reports').set({ received_at: old }).execute();
    await t.services.db.updateTable('feedback_events').set({ created_at: old }).execute();
    await t.services.db.updateTable('webhook_deliveries').set({ status: 'delivered', completed_at: old }).execute();
    await anonymizeOld(t.services, Date.now());
    const purged = await purgeExpired(t.services, Date.now());
    expect(purged.messages).toBeGreaterThanOrEqual(2);
    await housekeeping(t.services, Date.now() + 2 * 3_600_000);

    const db = t.services.db;
    const count = async (table: string) =>
      Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(db)).rows[0]!.n);
    expect(await count('email_messages')).toBe(0);
    for (const table of [
      'email_events',
      'email_attachments',
      'email_bodies',
      'content_blobs',
      'content_blob_parts',
      'feedback_reports',
      'feedback_events',
      'webhook_deliveries',
      'webhook_attempts',
    ])
      expect(`${table}: ${await count(table)}`).toBe(`${table}: 0`);
    if (backend === 'sqlite') {
      expect(await count('message_search_pending')).toBe(0);
      const indexed = await sql<{ n: number }>`select count(*) as n from message_search`.execute(db);
      expect(Number(indexed.rows[0]!.n)).toBe(0);
    }
    // The suppression the bounce made stays (it stops mail), pointing at a message that is gone.
    const s = await db
      .selectFrom('email_suppressions')
      .select('message_id')
      .where('email', '=', 'purged.person@gone.bj')
      .execute();
    expect(s.map((r) => r.message_id)).toEqual([id]);
  });
});
