import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/platform/log.js';
import { WebhookDispatcher } from '../src/webhooks/index.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';

interface LogLine {
  level: number;
  msg: string;
  endpoint?: string;
  reason?: string;
}

/**
 * An endpoint that answers 410 Gone is paused (is_active false, paused_reason) in the transaction
 * that records the attempt, as Svix and other senders do; its pending deliveries wait for a resume.
 * Other failures (404, 500) are retried as before. A real receiver on a local port answers.
 */
describe.each(backends)('a webhook endpoint that answers 410 Gone, on %s', (backend) => {
  let t: TestContext;
  let server: Server;
  let base: string;
  /** What each path answers (200 when not set), and the paths posted to, in order. */
  const answers = new Map<string, number>();
  const posted: string[] = [];
  const lines: LogLine[] = [];
  /** A dispatcher of this test's own (its log is read), one delivery per pass; `all` takes a full batch. */
  let one: WebhookDispatcher;
  let all: WebhookDispatcher;

  beforeAll(async () => {
    t = await createTestContext(backend, { WEBHOOK_RETRY_BASE_SECONDS: '0.05', WEBHOOK_MAX_ATTEMPTS: '3' });
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        posted.push(req.url ?? '');
        res.statusCode = answers.get(req.url ?? '') ?? 200;
        res.end('bye');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const log = createLogger('warn', { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
    const make = (batchSize?: number) =>
      new WebhookDispatcher(t.services.db, backend, t.config.outboundWebhooks, log, {
        owner: 'wh410',
        ...(batchSize ? { batchSize } : {}),
      });
    one = make(1);
    all = make();
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await t.close();
  });

  const create = async (path: string, event_types: string[]) =>
    (
      await t.inject({ method: 'POST', url: '/api/v1/webhooks', payload: { url: `${base}${path}`, event_types } })
    ).json() as { id: string };
  const endpoint = async (id: string) => (await t.inject({ method: 'GET', url: `/api/v1/webhooks/${id}` })).json();
  const deliveries = async (id: string) =>
    (await t.inject({ method: 'GET', url: `/api/v1/webhooks/${id}/deliveries` })).json().items as Array<{
      id: string;
      status: string;
      attempts: number;
      last_status_code: number | null;
      next_attempt_at: string | null;
      attempt_log: Array<{ status_code: number | null; error: string | null }>;
    }>;
  async function event(type: string) {
    const id = (
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        payload: { ...incidentExample(), to: 'gone@example.com' },
      })
    ).json().items[0].id as string;
    await t.services.db
      .transaction()
      .execute((trx) => t.services.events.record(trx, [{ messageId: id, type, at: Date.now(), data: {} }]));
    return id;
  }
  const pausedCount = async () =>
    Number(
      /^postier_webhook_endpoints_paused_total\{reason="gone"\} (\d+)/m.exec(
        (await t.inject({ method: 'GET', url: '/metrics' })).body,
      )?.[1] ?? 0,
    );
  const sentTo = (path: string) => posted.filter((p) => p === path).length;
  const pausedLines = (id: string) => lines.filter((l) => l.endpoint === id && /paused/.test(l.msg));

  it('pauses the endpoint with its reason, keeps its other pending deliveries, attempts nothing more until resumed', async () => {
    const path = `/gone-${backend}`;
    const ep = await create(path, ['delivered']);
    await event('delivered');
    await event('delivered');
    const metricBefore = await pausedCount();
    answers.set(path, 410);

    // One delivery per pass: the first meets the 410.
    expect(await one.runOnce(Date.now())).toBe(1);
    expect(sentTo(path)).toBe(1);

    const paused = await endpoint(ep.id);
    expect(paused.is_active).toBe(false);
    expect(paused.paused_reason).toMatch(/^HTTP 410 Gone at \d{4}-\d\d-\d\dT.* \(delivery [0-9a-f-]{36}\)$/);
    const listed = (await t.inject({ method: 'GET', url: '/api/v1/webhooks' })).json().items;
    expect(listed.find((e: { id: string }) => e.id === ep.id).paused_reason).toBe(paused.paused_reason);

    // The attempt is recorded as failed with the 410; the delivery and the other one wait, not lost.
    const waiting = await deliveries(ep.id);
    const first = waiting.find((d) => d.attempts === 1);
    const second = waiting.find((d) => d.attempts === 0);
    expect(paused.paused_reason).toContain(first!.id);
    expect(first).toMatchObject({ status: 'pending', attempts: 1, last_status_code: 410 });
    expect(first!.attempt_log).toEqual([expect.objectContaining({ status_code: 410, error: 'HTTP 410' })]);
    expect(second).toMatchObject({ status: 'pending', attempts: 0, attempt_log: [] });

    expect(await pausedCount()).toBe(metricBefore + 1);
    expect(pausedLines(ep.id)).toEqual([expect.objectContaining({ level: 40, reason: paused.paused_reason })]);

    // Nothing more goes to it: not the pending deliveries, however late, nor a later event.
    await event('delivered');
    expect(await one.runOnce(Date.now() + 3_600_000)).toBe(0);
    expect(await all.runOnce(Date.now() + 3_600_000)).toBe(0);
    expect(sentTo(path)).toBe(1);
    expect(await deliveries(ep.id)).toHaveLength(2);
    const refused = await t.inject({ method: 'POST', url: `/api/v1/webhooks/${ep.id}/test` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.message).toContain('410 Gone');

    // Resumed: the reason is gone, the waiting deliveries go out, and so do later events.
    answers.delete(path);
    const resumed = await t.inject({ method: 'PATCH', url: `/api/v1/webhooks/${ep.id}`, payload: { is_active: true } });
    expect(resumed.json()).toMatchObject({ is_active: true, paused_reason: null });
    expect((await endpoint(ep.id)).paused_reason).toBeNull();
    expect(await all.runOnce(Date.now() + 1000)).toBe(2);
    expect(sentTo(path)).toBe(3);
    await event('delivered');
    expect(await all.runOnce(Date.now() + 1000)).toBe(1);
    const after = await deliveries(ep.id);
    expect(after.map((d) => d.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(after.find((d) => d.id === first!.id)!.attempt_log.map((a) => a.status_code)).toEqual([410, 200]);
    expect(pausedLines(ep.id)).toHaveLength(1);
    await t.inject({ method: 'DELETE', url: `/api/v1/webhooks/${ep.id}` });
  });

  it('pauses once when several attempts in flight meet the 410', async () => {
    const path = `/gone-many-${backend}`;
    const ep = await create(path, ['bounced']);
    for (let i = 0; i < 3; i++) await event('bounced');
    answers.set(path, 410);
    const metricBefore = await pausedCount();

    // The whole batch is claimed; those that go out before the pause is recorded meet the 410 too.
    const attempted = await all.runOnce(Date.now());
    expect(attempted).toBeGreaterThanOrEqual(1);
    expect(sentTo(path)).toBe(attempted);
    const e = await endpoint(ep.id);
    expect(e.is_active).toBe(false);
    expect(e.paused_reason).toMatch(/^HTTP 410 Gone/);
    expect(await pausedCount()).toBe(metricBefore + 1);
    expect(pausedLines(ep.id)).toHaveLength(1);
    const ds = await deliveries(ep.id);
    expect(ds).toHaveLength(3);
    expect(ds.every((d) => d.status === 'pending')).toBe(true);
    expect(ds.filter((d) => d.attempts === 1)).toHaveLength(attempted);
    await t.inject({ method: 'DELETE', url: `/api/v1/webhooks/${ep.id}` });
  });

  it('still retries a 404 or a 500 with backoff until it gives up, the endpoint staying active', async () => {
    for (const code of [404, 500]) {
      const path = `/failing-${code}-${backend}`;
      const ep = await create(path, ['complaint']);
      await event('complaint');
      answers.set(path, code);
      const metricBefore = await pausedCount();
      const t0 = Date.now();
      await all.runOnce(t0);
      expect(sentTo(path)).toBe(1);
      expect(await endpoint(ep.id)).toMatchObject({ is_active: true, paused_reason: null });
      const [d] = await deliveries(ep.id);
      expect(d).toMatchObject({ status: 'pending', attempts: 1, last_status_code: code });
      expect(Date.parse(d!.next_attempt_at!)).toBeGreaterThan(t0);
      // Backing off, then retried up to WEBHOOK_MAX_ATTEMPTS (3).
      await all.runOnce(t0);
      expect(sentTo(path)).toBe(1);
      for (let i = 0; i < 2; i++) await all.runOnce(Date.now() + 3_600_000);
      expect(sentTo(path)).toBe(3);
      const [failed] = await deliveries(ep.id);
      expect(failed).toMatchObject({ status: 'failed', attempts: 3, last_status_code: code });
      expect(await endpoint(ep.id)).toMatchObject({ is_active: true, paused_reason: null });
      expect(await pausedCount()).toBe(metricBefore);
      expect(pausedLines(ep.id)).toEqual([]);
      // A later event still goes to it.
      answers.delete(path);
      await event('complaint');
      await all.runOnce(Date.now() + 1000);
      expect(sentTo(path)).toBe(4);
      await t.inject({ method: 'DELETE', url: `/api/v1/webhooks/${ep.id}` });
    }
  });

  it('pausing by hand records no reason; resuming after a 410 clears it', async () => {
    const path = `/by-hand-${backend}`;
    const ep = await create(path, ['failed']);
    const off = await t.inject({ method: 'PATCH', url: `/api/v1/webhooks/${ep.id}`, payload: { is_active: false } });
    expect(off.json()).toMatchObject({ is_active: false, paused_reason: null });
    const on = await t.inject({ method: 'PATCH', url: `/api/v1/webhooks/${ep.id}`, payload: { is_active: true } });
    expect(on.json()).toMatchObject({ is_active: true, paused_reason: null });
    // Another change to a paused endpoint (its URL, fixed) keeps the reason until it is resumed.
    await event('failed');
    answers.set(path, 410);
    expect(await one.runOnce(Date.now())).toBe(1);
    const moved = await t.inject({
      method: 'PATCH',
      url: `/api/v1/webhooks/${ep.id}`,
      payload: { url: `${base}${path}/v2` },
    });
    expect(moved.json()).toMatchObject({ is_active: false, paused_reason: expect.stringMatching(/^HTTP 410 Gone/) });
    const on2 = await t.inject({ method: 'PATCH', url: `/api/v1/webhooks/${ep.id}`, payload: { is_active: true } });
    expect(on2.json()).toMatchObject({ is_active: true, paused_reason: null });
    expect(await one.runOnce(Date.now() + 1000)).toBe(1);
    expect(sentTo(`${path}/v2`)).toBe(1);
    expect((await deliveries(ep.id))[0]).toMatchObject({ status: 'delivered', attempts: 2 });
  });
});
