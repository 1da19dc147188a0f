import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';

const DAY = 86_400_000;

describe.each(backends)('GET /api/v1/email/stats on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  /** Sends one message, then moves it to `status`, created `daysAgo` days before now. */
  async function message(status: string, daysAgo: number, extra: Record<string, unknown> = {}) {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { ...incidentExample(), to: `u${Math.random()}@example.com` },
    });
    const id = res.json().items[0].id as string;
    const at = Date.now() - daysAgo * DAY;
    await t.services.db
      .updateTable('email_messages')
      .set({ status: status as never, created_at: at, updated_at: at, ...extra })
      .where('id', '=', id)
      .execute();
    return id;
  }

  it('counts by status for today and the period, one zero-filled point per day, computed in SQL on this database', async () => {
    await message('delivered', 0);
    await message('delivered', 0);
    await message('sent', 0);
    await message('failed', 0, { error_message: '550 5.1.1 mailbox unknown' });
    await message('bounced', 2, { bounce_type: 'Permanent', bounce_subtype: 'General' });
    await message('delivered', 6);
    await message('delivered', 7); // outside a 7-day window (today and the 6 days before)
    await message('queued', 0);

    const res = await t.inject({ method: 'GET', url: '/api/v1/email/stats?days=7' });
    expect(res.statusCode).toBe(200);
    const s = res.json();
    expect(s.today).toMatchObject({ delivered: 2, sent: 1, failed: 1, queued: 1, bounced: 0 });
    expect(s.period).toMatchObject({ delivered: 3, sent: 1, failed: 1, bounced: 1, queued: 1 });
    expect(s.series).toHaveLength(7);
    expect(s.series[6]).toEqual({
      day: new Date().toISOString().slice(0, 10),
      sent: 1,
      captured: 0,
      delivered: 2,
      bounced: 0,
      failed: 1,
    });
    expect(s.series[4]).toMatchObject({ bounced: 1 });
    expect(s.series[0]).toMatchObject({ delivered: 1 });
    expect(s.series.map((p: { day: string }) => p.day)).toEqual(
      [...s.series.map((p: { day: string }) => p.day)].sort(),
    );
  });

  it('reports the queue depth and the age of the oldest queued message', async () => {
    await message('queued', 0.5);
    const s = (await t.inject({ method: 'GET', url: '/api/v1/email/stats' })).json();
    expect(s.days).toBe(7);
    expect(s.queue.depth).toBe(2);
    expect(s.queue.oldest_age_seconds).toBeGreaterThanOrEqual(43_190);
    expect(s.queue.oldest_age_seconds).toBeLessThan(43_260);
  });

  it('lists the latest failures, newest first, each with its reason', async () => {
    const s = (await t.inject({ method: 'GET', url: '/api/v1/email/stats' })).json();
    expect(s.latest_failures.map((f: { status: string; reason: string }) => [f.status, f.reason])).toEqual([
      ['failed', '550 5.1.1 mailbox unknown'],
      ['bounced', 'Permanent / General'],
    ]);
    expect(s.latest_failures[0]).toMatchObject({
      template_key: 'incident_alert_critical',
      to: expect.stringContaining('@example.com'),
    });
  });

  it("buckets days in the viewer's time zone", async () => {
    // A message created at 23:30 UTC yesterday is "today" for a viewer at UTC+1 only if it is past 23:00 UTC now… so
    // use the day boundary directly: 30 minutes before UTC midnight is the next day at UTC+1.
    const t2 = await createTestContext(backend);
    try {
      const res = await t2.inject({ method: 'POST', url: '/api/v1/email/send', payload: incidentExample() });
      const midnight = Math.floor(Date.now() / DAY) * DAY;
      await t2.services.db
        .updateTable('email_messages')
        .set({ status: 'delivered', created_at: midnight - 30 * 60_000 })
        .where('id', '=', res.json().items[0].id)
        .execute();
      const utc = (await t2.inject({ method: 'GET', url: '/api/v1/email/stats?days=2&tz_offset=0' })).json();
      const plus1 = (await t2.inject({ method: 'GET', url: '/api/v1/email/stats?days=2&tz_offset=60' })).json();
      expect(utc.series.map((p: { delivered: number }) => p.delivered)).toEqual([1, 0]);
      // At UTC+1 the message is on the viewer's current day (unless it is already past 23:00 UTC, when "today" moved on).
      const lateUtc = Date.now() - midnight >= 23 * 3600_000;
      expect(plus1.series.map((p: { delivered: number }) => p.delivered)).toEqual(lateUtc ? [1, 0] : [0, 1]);
    } finally {
      await t2.close();
    }
  });

  it('validates its query and is admin-only', async () => {
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/stats?days=0' })).statusCode).toBe(400);
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/stats?days=91' })).statusCode).toBe(400);
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/stats?tz_offset=900' })).statusCode).toBe(400);
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/stats', token: null })).statusCode).toBe(401);
    const key = (
      await t.inject({ method: 'POST', url: '/api/v1/keys', payload: { name: 'sender', scope: 'send' } })
    ).json();
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/stats', token: key.token })).statusCode).toBe(403);
  });
});

describe('GET /api/v1/email/messages/:id for the admin UI', () => {
  it('names the sender the message goes out with', async () => {
    const t = await createTestContext('sqlite');
    try {
      const id = (await t.inject({ method: 'POST', url: '/api/v1/email/send', payload: incidentExample() })).json()
        .items[0].id;
      const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json();
      expect(msg.from).toBe('RGZ Notifications <noreply@rgz.bj>');
    } finally {
      await t.close();
    }
  });
});
