import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver as a customer would write it: verifies the Standard Webhooks signature itself. */
function verify(secret: string, r: Received): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key)
    .update(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`)
    .digest();
  return String(r.headers['webhook-signature'])
    .split(' ')
    .some((s) => {
      const given = Buffer.from(s.replace(/^v1,/, ''), 'base64');
      return s.startsWith('v1,') && given.length === expected.length && timingSafeEqual(given, expected);
    });
}

describe.each(backends)('outbound webhooks on %s', (backend) => {
  let t: TestContext;
  let server: Server;
  let url: string;
  const received: Received[] = [];
  const replies: number[] = [];
  beforeAll(async () => {
    t = await createTestContext(backend, {
      WEBHOOK_RETRY_BASE_SECONDS: '0.05',
      WEBHOOK_MAX_ATTEMPTS: '3',
      WEBHOOK_POLL_MS: '20',
    });
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.statusCode = replies.shift() ?? 200;
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/postier`;
  });
  afterAll(async () => {
    await t.services.webhooks.stop();
    await new Promise((resolve) => server.close(resolve));
    await t.close();
  });

  const create = (payload: object) => t.inject({ method: 'POST', url: '/api/v1/webhooks', payload });
  async function messageWith(type: string) {
    const id = (
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        payload: { ...incidentExample(), to: 'hook@example.com' },
      })
    ).json().items[0].id as string;
    // What the delivery worker and the SES receiver do: record the status change as an event.
    await t.services.db
      .transaction()
      .execute((trx) =>
        t.services.events.record(trx, [{ messageId: id, type, at: Date.now(), data: { smtp_response: '250 Ok' } }]),
      );
    return id;
  }
  const deliveries = async (endpointId: string) =>
    (await t.inject({ method: 'GET', url: `/api/v1/webhooks/${endpointId}/deliveries` })).json().items;
  const dispatcher = () => t.services.webhooks;

  it('signs each event Standard-Webhooks style, retries a failure with backoff and records every attempt', async () => {
    const ep = (await create({ url, event_types: ['delivered', 'bounced'], description: 'CRM' })).json();
    expect(ep.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const messageId = await messageWith('delivered');
    await messageWith('sent'); // not subscribed: no delivery

    replies.push(500);
    // Explicit clocks: a loaded machine must not turn "still backing off" into "due again".
    const t0 = Date.now();
    expect(await dispatcher().runOnce(t0)).toBe(1);
    expect(received).toHaveLength(1);
    expect(await dispatcher().runOnce(t0)).toBe(0); // backing off
    expect(await dispatcher().runOnce(t0 + 30_000)).toBe(1);
    expect(received).toHaveLength(2);

    for (const r of received) {
      expect(verify(ep.secret, r)).toBe(true);
      expect(Math.abs(Number(r.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
      expect(r.headers['content-type']).toBe('application/json');
    }
    expect(received[0]!.headers['webhook-id']).toBe(received[1]!.headers['webhook-id']);
    expect(verify(`whsec_${Buffer.alloc(32).toString('base64')}`, received[0]!)).toBe(false);
    expect(JSON.parse(received[1]!.body)).toMatchObject({
      type: 'email.delivered',
      data: {
        message_id: messageId,
        to: 'hook@example.com',
        template_key: 'incident_alert_critical',
        details: { smtp_response: '250 Ok' },
      },
    });

    const [d, ...rest] = await deliveries(ep.id);
    expect(rest).toEqual([]);
    expect(d).toMatchObject({
      id: received[0]!.headers['webhook-id'],
      event_type: 'delivered',
      status: 'delivered',
      attempts: 2,
      last_status_code: 200,
      last_error: null,
    });
    expect(d.attempt_log).toEqual([
      { at: expect.any(String), status_code: 500, duration_ms: expect.any(Number), error: 'HTTP 500' },
      { at: expect.any(String), status_code: 200, duration_ms: expect.any(Number), error: null },
    ]);
  });

  it('gives up after WEBHOOK_MAX_ATTEMPTS, recording connection errors', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const dead = (await create({ url: `http://127.0.0.1:${port}/closed`, event_types: ['bounced'] })).json();
    await messageWith('bounced');
    for (let i = 0; i < 3; i++) {
      await dispatcher().runOnce(Date.now() + 3_600_000);
    }
    const [d] = await deliveries(dead.id);
    expect(d).toMatchObject({ status: 'failed', attempts: 3, last_status_code: null, next_attempt_at: null });
    expect(d.attempt_log).toHaveLength(3);
    expect(d.attempt_log[0].error).toMatch(/ECONNREFUSED|fetch failed/);
    await t.inject({ method: 'DELETE', url: `/api/v1/webhooks/${dead.id}` });
  });

  it('accepts a given secret, never shows a secret again, and stops enqueueing for an inactive or deleted endpoint', async () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const ep = (await create({ url, event_types: ['complaint'], secret })).json();
    expect(ep.secret).toBe(secret);
    const listed = (await t.inject({ method: 'GET', url: '/api/v1/webhooks' })).json().items;
    expect(listed.find((e: { id: string }) => e.id === ep.id)).toEqual(
      expect.not.objectContaining({ secret: expect.anything() }),
    );
    expect((await t.inject({ method: 'GET', url: `/api/v1/webhooks/${ep.id}` })).json().secret).toBeUndefined();

    const off = await t.inject({ method: 'PATCH', url: `/api/v1/webhooks/${ep.id}`, payload: { is_active: false } });
    expect(off.json().is_active).toBe(false);
    await messageWith('complaint');
    // The dispatcher reads the event log: nothing is enqueued for an inactive endpoint.
    await dispatcher().enqueuer.run();
    expect(await deliveries(ep.id)).toEqual([]);

    expect((await t.inject({ method: 'DELETE', url: `/api/v1/webhooks/${ep.id}` })).statusCode).toBe(204);
    expect((await t.inject({ method: 'GET', url: `/api/v1/webhooks/${ep.id}` })).json().error.code).toBe(
      'webhook_not_found',
    );
  });

  it('refuses bad endpoints', async () => {
    expect((await create({ url: 'ftp://x.example', event_types: ['sent'] })).statusCode).toBe(400);
    expect((await create({ url, event_types: ['read'] })).statusCode).toBe(400);
    expect((await create({ url, event_types: ['sent'], secret: 'short' })).statusCode).toBe(400);
    const { token } = await t.services.apiKeys.create('s', 'send', null);
    expect((await t.inject({ method: 'GET', url: '/api/v1/webhooks', token })).statusCode).toBe(403);
  });

  it('delivers from the background loop started with the app', async () => {
    const ep = (await create({ url, event_types: ['failed'] })).json();
    const before = received.length;
    dispatcher().start();
    await messageWith('failed');
    for (let i = 0; i < 100 && received.length === before; i++) await new Promise((r) => setTimeout(r, 20));
    await dispatcher().stop();
    expect(JSON.parse(received.at(-1)!.body).type).toBe('email.failed');
    expect(verify(ep.secret, received.at(-1)!)).toBe(true);
  });
});
