import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonymizeAddress } from '../src/platform/crypto/anon-key.js';
import { anonymizeOld } from '../src/retention/anonymize.js';
import { housekeeping } from '../src/retention/housekeeping.js';
import { PURGE_BATCH } from '../src/retention/index.js';
import { purgeExpired } from '../src/retention/purge.js';
import { age, detail, sendOk } from './helpers/archive.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { invoiceExample } from './helpers/fixtures.js';

describe.each(backends)('retention on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, { EMAIL_AUTO_ANONYMIZE_AFTER_DAYS: '90', EMAIL_AUDIT_RETENTION_DAYS: '365' });
  });
  afterAll(() => t.close());

  it('anonymizes messages past 90 days: addresses hashed, bodies and attachment bytes dropped, metadata kept, still findable by address', async () => {
    const to = 'Old.Reseller@TechConnect.bj';
    const [oldId] = await sendOk(t, { ...invoiceExample(), to, cc: 'boss@techconnect.bj', reply_to: 'ops@rgz.bj' });
    const [recentId] = await sendOk(t, { ...invoiceExample(), to });
    const [stuckId] = await sendOk(t, { ...invoiceExample(), to: 'stuck@techconnect.bj' });
    await age(t, [oldId!], 100);
    await age(t, [stuckId!], 100, 'queued');

    const r = await anonymizeOld(t.services, Date.now());
    expect(r).toMatchObject({ messages: 1, attachments: 1 });

    const old = await detail(t, oldId!);
    const hash = anonymizeAddress(t.config, to);
    expect(old.to).toBe(hash);
    expect(old.to).toMatch(/^anon:[0-9a-f]{64}$/);
    expect(old.cc).toEqual([anonymizeAddress(t.config, 'boss@techconnect.bj')]);
    expect(old.reply_to).toMatch(/^anon:/);
    expect(old.html_content).toBeNull();
    expect(old.text_content).toBeNull();
    expect(old.anonymized_at).not.toBeNull();
    // Metadata stays: template, subject, attachment name, size and hash.
    expect(old.subject).toBe('Facture RGZ — février 2026');
    expect(old.template_key).toBe('billing_invoice_monthly');
    expect(old.attachments[0]).toMatchObject({
      filename: 'invoice_2026-02.pdf',
      size_bytes: expect.any(Number),
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(old.events.map((e: { type: string }) => e.type)).toContain('anonymized');
    const dl = await t.inject({
      method: 'GET',
      url: `/api/v1/email/messages/${oldId}/attachments/${old.attachments[0].id}`,
    });
    expect(dl.statusCode).toBe(404);

    const recent = await detail(t, recentId!);
    expect(recent.to).toBe('Old.Reseller@techconnect.bj');
    expect(recent.html_content).toContain('450000');
    const stuck = await detail(t, stuckId!);
    expect(stuck.html_content).not.toBeNull();

    // The exact address (any case of the domain) still finds both, hashed and clear.
    const list = (
      await t.inject({
        method: 'GET',
        url: `/api/v1/email/messages?to=${encodeURIComponent('Old.Reseller@techconnect.bj')}`,
      })
    ).json();
    expect(list.items.map((i: { id: string }) => i.id).sort()).toEqual([oldId, recentId].sort());

    // A second run finds nothing new.
    expect(await anonymizeOld(t.services, Date.now())).toMatchObject({ messages: 0 });
  });

  it('purges messages past 365 days with their attachments and events, in batches, and keeps younger ones', async () => {
    const [template] = await sendOk(t, invoiceExample());
    const [young] = await sendOk(t, invoiceExample());
    await age(t, [template!], 400);
    await age(t, [young!], 300);
    // 1 100 more expired rows, copied from the first, so the purge needs several batches.
    const row = await t.services.db
      .selectFrom('email_messages')
      .selectAll()
      .where('id', '=', template!)
      .executeTakeFirstOrThrow();
    const copies = Array.from({ length: 1100 }, (_, i) => ({
      ...row,
      id: `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`,
    }));
    for (let i = 0; i < copies.length; i += 200)
      await t.services.db
        .insertInto('email_messages')
        .values(copies.slice(i, i + 200))
        .execute();

    const batches: number[] = [];
    const r = await purgeExpired(t.services, Date.now(), async () => void batches.push(1));
    expect(r.messages).toBe(1101);
    expect(r.attachments).toBe(1);
    expect(r.events).toBeGreaterThanOrEqual(1);
    expect(r.batches).toBe(Math.ceil(1101 / PURGE_BATCH));
    expect(batches).toHaveLength(r.batches);

    expect((await t.inject({ method: 'GET', url: `/api/v1/email/messages/${template}` })).statusCode).toBe(404);
    const left = await t.services.db
      .selectFrom('email_events')
      .select('id')
      .where('message_id', '=', template!)
      .execute();
    expect(left).toEqual([]);
    expect((await t.inject({ method: 'GET', url: `/api/v1/email/messages/${young}` })).statusCode).toBe(200);
  });

  it('housekeeping deletes expired idempotency keys, old SNS ids and old finished webhook deliveries, in batches, and keeps the rest', async () => {
    const now = Date.now();
    const db = t.services.db;
    const key = (k: string, expires: number) => ({
      scope: 'hk',
      key: k,
      request_hash: 'h',
      status_code: 201,
      response_body: '{}',
      created_at: expires - 86_400_000,
      expires_at: expires,
    });
    const expiredKeys = Array.from({ length: 1200 }, (_, i) => key(`old-${i}`, now - 1000 - i));
    for (let i = 0; i < expiredKeys.length; i += 200)
      await db
        .insertInto('idempotency_keys')
        .values(expiredKeys.slice(i, i + 200))
        .execute();
    await db
      .insertInto('idempotency_keys')
      .values([key('live', now + 3_600_000), key('edge', now)])
      .execute();

    const sns = (id: string, at: number) => ({
      message_id: id,
      type: 'Notification',
      topic_arn: 'arn:aws:sns:eu-west-1:123456789012:ses',
      received_at: at,
    });
    await db
      .insertInto('sns_messages')
      .values([sns('sns-old', now - 8 * 86_400_000), sns('sns-recent', now - 86_400_000)])
      .execute();

    await db
      .insertInto('webhook_endpoints')
      .values({
        id: 'hk-ep',
        url: 'https://hooks.example.com/x',
        description: '',
        event_types: '["sent"]',
        secret: 's',
        is_active: 1,
        created_by: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    const delivery = (id: string, created: number, completed: number | null) => ({
      id,
      endpoint_id: 'hk-ep',
      message_id: null,
      event_type: 'sent',
      payload: '{}',
      status: completed ? ('delivered' as const) : ('pending' as const),
      attempts: 1,
      next_attempt_at: completed ? null : now,
      last_status_code: 200,
      last_error: null,
      created_at: created,
      completed_at: completed,
    });
    const longAgo = now - 400 * 86_400_000;
    await db
      .insertInto('webhook_deliveries')
      .values([
        delivery('wh-old', longAgo, longAgo),
        delivery('wh-recent', now, now),
        delivery('wh-pending', longAgo, null),
      ])
      .execute();
    await db
      .insertInto('webhook_attempts')
      .values({ delivery_id: 'wh-old', attempted_at: longAgo, status_code: 200, duration_ms: 5, error: null })
      .execute();

    let batches = 0;
    const r = await housekeeping(t.services, now, async () => void batches++);
    expect(r).toEqual({
      idempotency_keys: 1201,
      sns_messages: 1,
      webhook_deliveries: 1,
      content_blobs: 0,
      feedback_reports: 0,
      feedback_events: 0,
      feedback_replay_tokens: 0,
      email_bodies: 0,
    });
    expect(batches).toBe(2); // 1,201 expired keys: two full batches, then the rest

    const keys = (await db.selectFrom('idempotency_keys').select('key').where('scope', '=', 'hk').execute()).map(
      (k) => k.key,
    );
    expect(keys).toEqual(['live']);
    expect((await db.selectFrom('sns_messages').select('message_id').execute()).map((m) => m.message_id)).toEqual([
      'sns-recent',
    ]);
    const deliveries = (await db.selectFrom('webhook_deliveries').select('id').orderBy('id').execute()).map(
      (d) => d.id,
    );
    expect(deliveries).toEqual(['wh-pending', 'wh-recent']);
    expect(await db.selectFrom('webhook_attempts').select('id').where('delivery_id', '=', 'wh-old').execute()).toEqual(
      [],
    );

    expect(await housekeeping(t.services, now)).toEqual({
      idempotency_keys: 0,
      sns_messages: 0,
      webhook_deliveries: 0,
      content_blobs: 0,
      feedback_reports: 0,
      feedback_events: 0,
      feedback_replay_tokens: 0,
      email_bodies: 0,
    });
  });
});
