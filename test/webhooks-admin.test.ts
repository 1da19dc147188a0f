import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

const signatureOf = (secret: string, r: Received) =>
  `v1,${createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
    .update(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`)
    .digest('base64')}`;

/** What an operator does to an endpoint from the admin UI: edit, pause, test, retry, rotate the secret. */
describe.each(backends)('webhook endpoints managed on %s', (backend) => {
  let t: TestContext;
  let server: Server;
  let url: string;
  const received: Received[] = [];
  const replies: number[] = [];
  beforeAll(async () => {
    t = await createTestContext(backend, { WEBHOOK_RETRY_BASE_SECONDS: '0.05', WEBHOOK_MAX_ATTEMPTS: '1' });
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
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await t.close();
  });

  const run = () => t.services.webhooks.runOnce(Date.now() + 3_600_000);
  const deliveries = async (id: string) =>
    (await t.inject({ method: 'GET', url: `/api/v1/webhooks/${id}/deliveries` })).json().items;

  it('sends a signed test event, marked test, and refuses to test a paused endpoint', async () => {
    const ep = (
      await t.inject({ method: 'POST', url: '/api/v1/webhooks', payload: { url, event_types: ['sent'] } })
    ).json();
    received.length = 0;
    const res = await t.inject({ method: 'POST', url: `/api/v1/webhooks/${ep.id}/test` });
    expect(res.statusCode).toBe(202);
    expect(await run()).toBe(1);
    expect(received).toHaveLength(1);
    expect(received[0]!.headers['webhook-signature']).toBe(signatureOf(ep.secret, received[0]!));
    expect(JSON.parse(received[0]!.body)).toMatchObject({ type: 'email.test', data: { test: true } });
    expect((await deliveries(ep.id))[0]).toMatchObject({
      id: res.json().delivery_id,
      event_type: 'test',
      status: 'delivered',
    });

    const paused = await t.inject({ method: 'PATCH', url: `/api/v1/webhooks/${ep.id}`, payload: { is_active: false } });
    expect(paused.json().is_active).toBe(false);
    const refused = await t.inject({ method: 'POST', url: `/api/v1/webhooks/${ep.id}/test` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.code).toBe('invalid_state');
  });

  it('holds the pending deliveries of a paused endpoint until it is resumed, and applies an edit', async () => {
    const ep = (
      await t.inject({ method: 'POST', url: '/api/v1/webhooks', payload: { url: `${url}/old`, event_types: ['sent'] } })
    ).json();
    await t.inject({ method: 'POST', url: `/api/v1/webhooks/${ep.id}/test` });
    await t.inject({ method: 'PATCH', url: `/api/v1/webhooks/${ep.id}`, payload: { is_active: false } });
    received.length = 0;
    await run();
    expect(received).toHaveLength(0);
    const edited = await t.inject({
      method: 'PATCH',
      url: `/api/v1/webhooks/${ep.id}`,
      payload: { is_active: true, url: `${url}/new`, description: 'CRM', event_types: ['bounced', 'complaint'] },
    });
    expect(edited.json()).toMatchObject({
      is_active: true,
      url: `${url}/new`,
      description: 'CRM',
      event_types: ['bounced', 'complaint'],
    });
    await run();
    expect(received).toHaveLength(1);
    expect(received[0]!.body).toContain('email.test');
  });

  it('retries a failed delivery by hand with a fresh budget, keeping its attempt log; refuses one not failed', async () => {
    const ep = (
      await t.inject({ method: 'POST', url: '/api/v1/webhooks', payload: { url, event_types: ['sent'] } })
    ).json();
    const id = (
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        payload: { ...incidentExample(), to: 'w@example.com' },
      })
    ).json().items[0].id;
    await t.services.db
      .transaction()
      .execute((trx) => t.services.events.record(trx, [{ messageId: id, type: 'sent', at: Date.now() }]));
    replies.push(503);
    await run();
    const [failed] = await deliveries(ep.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, last_status_code: 503 });

    const retry = await t.inject({ method: 'POST', url: `/api/v1/webhooks/${ep.id}/deliveries/${failed.id}/retry` });
    expect(retry.statusCode).toBe(202);
    await run();
    const [after] = await deliveries(ep.id);
    expect(after).toMatchObject({ id: failed.id, status: 'delivered', last_status_code: 200 });
    expect(after.attempt_log.map((a: { status_code: number }) => a.status_code)).toEqual([503, 200]);

    const again = await t.inject({ method: 'POST', url: `/api/v1/webhooks/${ep.id}/deliveries/${failed.id}/retry` });
    expect(again.statusCode).toBe(409);
    const unknown = await t.inject({
      method: 'POST',
      url: `/api/v1/webhooks/${ep.id}/deliveries/01900000-0000-7000-8000-000000000000/retry`,
    });
    expect(unknown.statusCode).toBe(404);
  });

  it('rotates the secret: shown once, and the next delivery is signed with it', async () => {
    const ep = (
      await t.inject({ method: 'POST', url: '/api/v1/webhooks', payload: { url, event_types: ['sent'] } })
    ).json();
    const rotated = await t.inject({ method: 'POST', url: `/api/v1/webhooks/${ep.id}/secret` });
    expect(rotated.statusCode).toBe(200);
    const secret = rotated.json().secret as string;
    expect(secret).not.toBe(ep.secret);
    expect((await t.inject({ method: 'GET', url: `/api/v1/webhooks/${ep.id}` })).body).not.toContain(secret);
    received.length = 0;
    await t.inject({ method: 'POST', url: `/api/v1/webhooks/${ep.id}/test` });
    await run();
    expect(received[0]!.headers['webhook-signature']).toBe(signatureOf(secret, received[0]!));
  });
});
