import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NewEvent } from '../src/events/index.js';
import { newId } from '../src/platform/ids.js';
import { WebhookEnqueuer } from '../src/webhooks/enqueue.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { sendOk } from './helpers/archive.js';
import { incidentExample } from './helpers/fixtures.js';

/**
 * The webhook enqueuer reads the event log after the fact (src/webhooks/enqueue.ts): each event
 * an endpoint subscribed to becomes one delivery, once, and only after it committed.
 */
describe.each(backends)('webhook enqueue from the event log on %s', (backend) => {
  let t: TestContext;
  let messageId: string;
  beforeAll(async () => {
    t = await createTestContext(backend);
    messageId = (await sendOk(t, { ...incidentExample(), to: 'tail@example.com' }))[0]!;
  });
  afterAll(() => t.close());
  // Each test tails as a new process: the lease of the previous one's tailer is let go.
  const lapseLease = () =>
    t.services.db.updateTable('job_locks').set({ expires_at: 0 }).where('name', '=', 'webhooks.enqueue').execute();
  beforeEach(() => lapseLease());

  const endpoint = async (types: string[]) => {
    const id = newId();
    const now = Date.now();
    await t.services.db
      .insertInto('webhook_endpoints')
      .values({
        id,
        url: 'http://127.0.0.1:9/hook',
        description: '',
        event_types: JSON.stringify(types),
        secret: 'whsec_x',
        is_active: 1,
        created_by: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    return id;
  };
  const record = (type: string, data?: Record<string, unknown>) =>
    t.services.db.transaction().execute((trx) => t.services.events.record(trx, [event(type, data)]));
  const event = (type: string, data?: Record<string, unknown>): NewEvent => ({ messageId, type, at: Date.now(), data });
  const deliveries = (endpointId: string) =>
    t.services.db
      .selectFrom('webhook_deliveries')
      .select(['event_id', 'event_type', 'payload'])
      .where('endpoint_id', '=', endpointId)
      .orderBy('event_id')
      .execute();
  const lastEventId = async () =>
    Number(
      (
        await t.services.db
          .selectFrom('email_events')
          .select((eb) => eb.fn.max('id').as('id'))
          .executeTakeFirstOrThrow()
      ).id,
    );
  const cursor = async () =>
    Number(
      (
        await t.services.db
          .selectFrom('event_cursors')
          .select('position')
          .where('name', '=', 'webhooks')
          .executeTakeFirstOrThrow()
      ).position,
    );
  const enqueuer = (owner: string, gapWindowMs?: number) =>
    new WebhookEnqueuer(t.services.db, t.services.database.dialect, { owner, gapWindowMs });
  const disableAll = () => t.services.db.updateTable('webhook_endpoints').set({ is_active: 0 }).execute();

  it('with no active endpoint, moves the cursor to the end of the log; a new endpoint hears only what follows', async () => {
    await record('sent');
    await enqueuer('a').run();
    expect(await cursor()).toBe(await lastEventId());
    const ep = await endpoint(['sent', 'bounced']);
    await record('bounced', { bounce_type: 'Permanent' });
    expect(await enqueuer('a').run()).toBe(1);
    const [d, ...rest] = await deliveries(ep);
    expect(rest).toEqual([]);
    expect(Number(d!.event_id)).toBe(await lastEventId());
    expect(JSON.parse(d!.payload)).toMatchObject({
      type: 'email.bounced',
      data: { message_id: messageId, to: 'tail@example.com', status: 'bounced', details: { bounce_type: 'Permanent' } },
    });
    await disableAll();
  });

  it('enqueues each event once per endpoint, however many tailers run, even two whose leases overlap', async () => {
    const ep = await endpoint(['delivered']);
    const first = await lastEventId();
    const a = enqueuer('host-a');
    const b = enqueuer('host-b');
    const passes: Array<Promise<number>> = [];
    for (let i = 0; i < 20; i++) {
      await record(i % 2 ? 'delivered' : 'attempt');
      passes.push(
        a.run().catch(() => 0),
        b.run().catch(() => 0),
      );
      // Every few events the lease is made to lapse, so both believe they hold it for a while.
      if (i % 5 === 4) await lapseLease();
    }
    await Promise.all(passes);
    await a.run().catch(() => 0);
    await b.run().catch(() => 0);
    const rows = await deliveries(ep);
    const delivered = await t.services.db
      .selectFrom('email_events')
      .select('id')
      .where('type', '=', 'delivered')
      .where('id', '>', first)
      .orderBy('id')
      .execute();
    expect(delivered).toHaveLength(10);
    expect(rows.map((r) => Number(r.event_id))).toEqual(delivered.map((e) => Number(e.id)));
    expect(await cursor()).toBe(await lastEventId());

    // Read again from an older position: the unique (endpoint, event) index keeps one delivery each.
    await t.services.db.updateTable('event_cursors').set({ position: first }).where('name', '=', 'webhooks').execute();
    await lapseLease();
    await enqueuer('host-c').run();
    expect(await deliveries(ep)).toHaveLength(10);
    await disableAll();
  });

  it.runIf(backend === 'postgres')(
    'waits at a gap in the ids: an event committed after a later one still gets its webhook',
    async () => {
      const ep = await endpoint(['failed', 'complaint']);
      const tail = enqueuer('gap-tailer');
      await tail.run();
      const start = await cursor();
      let commit!: () => void;
      const held = new Promise<void>((r) => (commit = r));
      let inserted!: () => void;
      const lowerInserted = new Promise<void>((r) => (inserted = r));
      // The lower id is allocated first, by a transaction that stays open…
      const slow = t.services.db.transaction().execute(async (trx) => {
        await t.services.events.record(trx, [event('failed')]);
        inserted();
        await held;
      });
      await lowerInserted;
      // …while a higher id commits.
      await record('complaint');
      expect(await tail.run()).toBe(0);
      expect(await deliveries(ep)).toEqual([]);
      expect(await cursor()).toBe(start);

      commit();
      await slow;
      expect(await tail.run()).toBe(2);
      expect((await deliveries(ep)).map((d) => d.event_type)).toEqual(['failed', 'complaint']);
      await disableAll();
    },
  );

  it.runIf(backend === 'postgres')(
    'passes a gap still open after the safety window: a rolled-back insert holds nothing up for good',
    async () => {
      const ep = await endpoint(['sent']);
      const tail = enqueuer('gap-tailer-2', 30_000);
      await tail.run();
      // An insert that rolls back leaves its id unused.
      await t.services.db
        .transaction()
        .execute(async (trx) => {
          await t.services.events.record(trx, [event('sent')]);
          throw new Error('rolled back');
        })
        .catch(() => {});
      await record('sent');
      const now = Date.now();
      expect(await tail.run(now)).toBe(0);
      expect(await tail.run(now + 29_000)).toBe(0);
      expect(await tail.run(now + 31_000)).toBe(1);
      const [d] = await deliveries(ep);
      expect(Number(d!.event_id)).toBe(await lastEventId());
      await disableAll();
    },
  );

  it.runIf(backend === 'sqlite')('on SQLite, never waits: ids become visible in order', async () => {
    const ep = await endpoint(['sent']);
    const tail = enqueuer('sqlite-tailer', 3_600_000);
    await tail.run();
    await t.services.db
      .transaction()
      .execute(async (trx) => {
        await t.services.events.record(trx, [event('sent')]);
        throw new Error('rolled back');
      })
      .catch(() => {});
    await record('sent');
    expect(await tail.run()).toBe(1);
    expect(await deliveries(ep)).toHaveLength(1);
    await disableAll();
  });
});
