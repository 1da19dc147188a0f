import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/platform/log.js';
import { PER_ENDPOINT, WebhookDispatcher } from '../src/webhooks/dispatcher.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';
import { until } from './helpers/delivery.js';

/**
 * Outbound webhooks against customer endpoints that misbehave, over real HTTP on both databases:
 * one that hangs must not hold up the others, a 1 GB answer is not read, a redirect is not
 * followed, a deleted endpoint's attempt in flight ends quietly, and what arrives verifies with
 * the receiver code the docs give, whatever the event's values hold.
 */

/** docs/api.md, "Verifying on the receiving side (Node)", as written there. */
function verifyAsDocumented(secret: string, headers: Record<string, string>, rawBody: string): boolean {
  const ts = Number(headers['webhook-timestamp']);
  if (Math.abs(Date.now() / 1000 - ts) > 300) return false; // refuse replays
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${headers['webhook-id']}.${ts}.${rawBody}`).digest();
  return headers['webhook-signature']!.split(' ').some((s) => {
    const given = Buffer.from(s.slice(3), 'base64');
    return s.startsWith('v1,') && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  res: ServerResponse;
}

describe.each(backends)('outbound webhooks to hostile endpoints on %s', (backend) => {
  let t: TestContext;
  let server: Server;
  let base: string;
  const hits: Hit[] = [];
  let bigSent = 0;
  let answerHanging = false;
  const logged: Array<{ level: number; msg: string }> = [];
  const log = createLogger(
    'warn',
    new Writable({
      write(chunk: Buffer, _e, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logged.push(JSON.parse(line));
        done();
      },
    }),
  );
  const dispatcher = (timeoutMs = 60_000) =>
    new WebhookDispatcher(t.services.db, t.services.dialect, { ...t.config.outboundWebhooks, timeoutMs }, log, {
      owner: 'pubsec',
    });

  beforeAll(async () => {
    t = await createTestContext(backend, {
      WEBHOOK_RETRY_BASE_SECONDS: '600',
      WEBHOOK_MAX_ATTEMPTS: '3',
      WEBHOOK_POLL_MS: '20',
    });
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const path = req.url!;
        hits.push({ path, headers: req.headers, body, res });
        if (path.startsWith('/hang') && !answerHanging) return; // answered by the test, or never
        if (path.startsWith('/hang')) return void res.end('ok');
        if (path === '/slow-head') {
          const line = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
          let i = 0;
          const tick = setInterval(() => {
            if (i >= line.length || res.socket!.destroyed) return clearInterval(tick);
            res.socket!.write(line[i++]!);
          }, 200);
          return;
        }
        if (path === '/big') {
          res.writeHead(200, { 'content-length': String(1024 ** 3) });
          const chunk = Buffer.alloc(64 * 1024, 97);
          const write = () => {
            while (bigSent < 1024 ** 3) {
              bigSent += chunk.length;
              if (!res.write(chunk)) return void res.once('drain', write);
            }
            res.end();
          };
          return write();
        }
        if (path === '/redirect') {
          res.writeHead(307, { location: `${base}/internal-admin` });
          return res.end();
        }
        if (path === '/gone') {
          res.writeHead(410);
          return res.end();
        }
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await t.close();
  });

  const endpoint = async (path: string, types = ['delivered']) =>
    (
      await t.inject({
        method: 'POST',
        url: '/api/v1/webhooks',
        payload: { url: `${base}${path}`, event_types: types },
      })
    ).json() as { id: string; secret: string };
  const drop = (id: string) => t.inject({ method: 'DELETE', url: `/api/v1/webhooks/${id}` });
  const deliveries = async (id: string) =>
    (await t.inject({ method: 'GET', url: `/api/v1/webhooks/${id}/deliveries?limit=200` })).json().items as Array<{
      status: string;
      attempts: number;
      last_status_code: number | null;
      last_error: string | null;
    }>;
  let message: string;
  const record = async (type: string, n: number, data: Record<string, unknown> = { smtp_response: '250 Ok' }) => {
    message ??= (
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        payload: { ...incidentExample(), to: 'h@example.com' },
      })
    ).json().items[0].id;
    for (let i = 0; i < n; i++)
      await t.services.db
        .transaction()
        .execute((trx) => t.services.events.record(trx, [{ messageId: message, type, at: Date.now(), data }]));
  };

  it('keeps delivering to the other endpoints while one hangs, holding few attempts there', async () => {
    const hanging = await endpoint('/hang/a', ['bounced']);
    const healthy = await endpoint('/ok', ['bounced']);
    await record('bounced', 30);
    const d = dispatcher();
    d.start();
    try {
      await until(
        'the healthy endpoint has all 30',
        async () => hits.filter((h) => h.path === '/ok').length === 30,
        15_000,
      );
      // The hanging one holds at most PER_ENDPOINT attempts at once: it is not flooded either.
      expect(hits.filter((h) => h.path === '/hang/a')).toHaveLength(PER_ENDPOINT);
      // Its 30th request reached the server before the dispatcher recorded that answer: wait for the record.
      await until('the healthy endpoint has all 30 recorded delivered', async () =>
        (await deliveries(healthy.id)).every((x) => x.status === 'delivered'),
      );
      // It answers again: the rest of its deliveries follow.
      answerHanging = true;
      for (const h of hits.filter((h) => h.path === '/hang/a')) h.res.end('late');
      await until('the hanging endpoint has all 30', async () =>
        (await deliveries(hanging.id)).every((x) => x.status === 'delivered'),
      );
      expect(hits.filter((h) => h.path === '/hang/a')).toHaveLength(30);
    } finally {
      answerHanging = false;
      const stopping = d.stop();
      for (const h of hits) if (!h.res.writableEnded) h.res.end();
      await stopping;
      await drop(hanging.id);
      await drop(healthy.id);
    }
  });

  it('ends quietly an attempt whose endpoint was deleted while it was in flight', async () => {
    const ep = await endpoint('/hang/deleted', ['complaint']);
    await record('complaint', 1);
    const d = dispatcher();
    const pass = d.runOnce(Date.now());
    await until('the attempt is in flight', async () => hits.some((h) => h.path === '/hang/deleted'));
    expect((await drop(ep.id)).statusCode).toBe(204);
    hits.find((h) => h.path === '/hang/deleted')!.res.end('ok');
    logged.length = 0;
    expect(await pass).toBe(1);
    await d.stop();
    expect(logged.filter((l) => l.level >= 50)).toEqual([]);
    const orphans = await t.services.db
      .selectFrom('webhook_attempts')
      .leftJoin('webhook_deliveries', 'webhook_deliveries.id', 'webhook_attempts.delivery_id')
      .select('webhook_attempts.id')
      .where('webhook_deliveries.id', 'is', null)
      .execute();
    expect(orphans).toEqual([]);
  });

  it('does not read a 1 GB answer, does not follow a redirect, times out a trickled answer, retries a 410', async () => {
    const eps = {
      big: await endpoint('/big', ['auto_replied']),
      redirect: await endpoint('/redirect', ['auto_replied']),
      slow: await endpoint('/slow-head', ['auto_replied']),
      gone: await endpoint('/gone', ['auto_replied']),
    };
    await record('auto_replied', 1);
    const d = dispatcher(1000);
    expect(await d.runOnce(Date.now())).toBe(4);
    await d.stop();
    expect(bigSent).toBeLessThan(64 * 1024 * 1024);
    expect(hits.some((h) => h.path === '/internal-admin')).toBe(false);
    expect((await deliveries(eps.big.id))[0]).toMatchObject({ status: 'delivered', last_status_code: 200 });
    expect((await deliveries(eps.redirect.id))[0]).toMatchObject({
      status: 'pending',
      last_status_code: 307,
      last_error: 'HTTP 307',
    });
    expect((await deliveries(eps.slow.id))[0]).toMatchObject({
      status: 'pending',
      last_status_code: null,
      last_error: 'timeout after 1000 ms',
    });
    expect((await deliveries(eps.gone.id))[0]).toMatchObject({ status: 'pending', last_status_code: 410 });
    for (const ep of Object.values(eps)) await drop(ep.id);
  });

  it('sends valid JSON, verifiable as the docs say, whatever the event holds', async () => {
    const ep = await endpoint('/ok', ['failed']);
    const hostile = {
      smtp_response: '550 "quoted" \\ back\u2028line\u2029sep </script><!-- \ud83d\ude00 é',
      nested: { deep: [1, null, true, 'x'.repeat(10_000)] },
      __proto__x: 'p',
    };
    await record('failed', 1, hostile);
    const d = dispatcher();
    const before = hits.length;
    expect(await d.runOnce(Date.now())).toBe(1);
    await d.stop();
    const got = hits.slice(before).find((h) => h.path === '/ok')!;
    const headers = Object.fromEntries(Object.entries(got.headers).map(([k, v]) => [k, String(v)]));
    expect(verifyAsDocumented(ep.secret, headers, got.body)).toBe(true);
    expect(verifyAsDocumented(ep.secret, headers, `${got.body} `)).toBe(false);
    expect(JSON.parse(got.body)).toMatchObject({ type: 'email.failed', data: { details: hostile } });
    await drop(ep.id);
  });
});
