import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Wired, wire } from '../src/app/wiring.js';
import { createLogger } from '../src/platform/log.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';

// A rate limit is per mailbox: Jane@, jane@ and JANE@ (and a domain in Unicode or punycode) are
// one recipient, or a caller sends N messages to each spelling.
describe.each(backends)('rate limits count a mailbox under every spelling on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, { EMAIL_RATE_LIMIT_MARKETING: '2/day' });
  });
  afterAll(() => t.close());

  const send = async (to: string | string[]) => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { to, subject: 'Offer', text: 'Hello', class: 'marketing' },
    });
    expect(res.statusCode).toBe(201);
    return res.json().items.map((i: { status: string }) => i.status);
  };

  it('across requests, whatever the case of the local part', async () => {
    expect(await send('jane@example.com')).toEqual(['queued']);
    expect(await send('Jane@example.com')).toEqual(['queued']);
    expect(await send('JANE@EXAMPLE.COM')).toEqual(['rate_limited']);
    expect(await send(['jAnE@example.com', 'someone@example.com'])).toEqual(['rate_limited', 'queued']);
  });

  it('across an internationalized domain in Unicode and in punycode', async () => {
    expect(await send('r@bücher.de')).toEqual(['queued']);
    expect(await send('r@xn--bcher-kva.de')).toEqual(['queued']);
    expect(await send('R@BÜCHER.de')).toEqual(['rate_limited']);
  });

  it('within one batch (one commit)', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/batch',
      payload: {
        messages: ['b@example.com', 'B@example.com', 'b@EXAMPLE.com', 'bB@example.com'].map((to) => ({
          to,
          subject: 'Offer',
          text: 'Hello',
          class: 'marketing',
        })),
      },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().items.map((e: { items: Array<{ status: string }> }) => e.items[0]!.status)).toEqual([
      'queued',
      'queued',
      'rate_limited',
      'queued',
    ]);
  });
});

// Two wirings on one PostgreSQL schema: two commit queues, so truly concurrent transactions.
describe.skipIf(!process.env.TEST_DATABASE_URL)('rate limits across two instances on postgres', () => {
  let t: TestContext;
  let other: Wired;
  beforeAll(async () => {
    t = await createTestContext('postgres', { EMAIL_RATE_LIMIT_MARKETING: '3/day' });
    other = await wire(t.config, createLogger('silent'), { schema: t.schema, migrate: false });
  });
  afterAll(async () => {
    await other.close();
    await t.close();
  });

  const offer = (to: string[]) => ({ to, subject: 'Offer', text: 'Hello', class: 'marketing' });

  it('accept exactly N in total for one mailbox spelled two ways, without deadlocking on the order of spellings', async () => {
    // Each instance names both mailboxes, in the opposite order and case of the other.
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        (i % 2 ? t.services : other).send.send(
          offer(i % 2 ? ['Bob@example.com', 'alice@example.com'] : ['bob@example.com', 'Alice@example.com']),
          { principal: null },
        ),
      ),
    );
    const queued = (name: string) =>
      results.flatMap((r) => r.items).filter((i) => i.to.toLowerCase().startsWith(name) && i.status === 'queued');
    expect(queued('bob')).toHaveLength(3);
    expect(queued('alice')).toHaveLength(3);
    expect(results.flatMap((r) => r.items.map((i) => i.status)).filter((s) => s === 'rate_limited')).toHaveLength(10);
  }, 60_000);

  /**
   * A third session holds `held` (the advisory lock key the policy takes), so both commits queue
   * behind it: `first` holding nothing, then `second` holding the lock of its first message.
   * Released, the first gets `held` and asks for what the second holds, unless locks are taken
   * in one order.
   */
  async function race(held: string, first: () => Promise<unknown>, second: () => Promise<unknown>) {
    const holder = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    const watcher = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await holder.connect();
    await watcher.connect();
    const waiting = async (n: number) => {
      for (let tries = 0; tries < 500; tries++) {
        const r = await watcher.query(
          "select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted",
        );
        if (r.rows[0].n >= n) return;
        await new Promise((ok) => setTimeout(ok, 20));
      }
      throw new Error(`never ${n} sessions waiting on an advisory lock`);
    };
    try {
      await holder.query('begin');
      await holder.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [held]);
      const a = first();
      await waiting(1);
      const b = second();
      await waiting(2);
      await holder.query('commit');
      return await Promise.allSettled([a, b]);
    } finally {
      await holder.end();
      await watcher.end();
    }
  }

  it('two commits naming two mailboxes in opposite orders and spellings wait for each other, never deadlock', async () => {
    const results = await race(
      'rate:marketing:alice@example.net',
      () => other.send.send(offer(['bob@example.net', 'Alice@example.net']), { principal: null }),
      () => t.services.send.send(offer(['Bob@example.net', 'alice@example.net']), { principal: null }),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    const statuses = results.flatMap((r) =>
      r.status === 'fulfilled' ? (r.value as { items: Array<{ status: string }> }).items.map((i) => i.status) : [],
    );
    expect(statuses).toEqual(['queued', 'queued', 'queued', 'queued']);
  }, 60_000);
});
