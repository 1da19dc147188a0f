import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PostierClient } from '../packages/client/src/index.js';

/** A real HTTP server answering with `handler`; every request it gets is kept. */
async function server(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const requests: { method: string; url: string; authorization?: string }[] = [];
  const s: Server = createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization });
    req.resume();
    req.on('end', () => handler(req, res));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  opened.push(s);
  return { url, requests };
}
const opened: Server[] = [];
afterEach(async () => {
  await Promise.all(
    opened.splice(0).map(
      (s) =>
        new Promise<void>((r) => {
          s.closeAllConnections();
          s.close(() => r());
        }),
    ),
  );
});

const message = { to: 'reseller@techconnect.bj', template_key: 'instance_provisioned', variables: {} };

describe('TypeScript client against misbehaving servers (outside review)', () => {
  it.each([301, 302, 307, 308])('does not follow a %s: the send fails, nothing goes to the Location', async (code) => {
    const elsewhere = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"items":[]}');
    });
    const redirecting = await server((_req, res) => {
      res.writeHead(code, { location: `${elsewhere.url}/api/v1/email/send` });
      res.end();
    });
    const client = new PostierClient({ baseUrl: redirecting.url, token: 'pst_secret', throwOnError: false });
    const r = await client.send(message, { idempotencyKey: 'redirect-1' });
    expect(r).toMatchObject({ ok: false, error: { status: code, code: 'redirected', retryable: false } });
    expect(r.ok || r.error.message).toContain(elsewhere.url);
    expect(elsewhere.requests).toEqual([]);
    await expect(
      new PostierClient({ baseUrl: redirecting.url, token: 'pst_secret' }).getMessage('x'),
    ).rejects.toMatchObject({
      status: code,
      code: 'redirected',
    });
  });
});

describe('TypeScript client keeps its API key out of logs (outside review)', () => {
  it('util.inspect, console.log formatting and JSON.stringify of a client do not show the token', async () => {
    const { inspect, format } = await import('node:util');
    const client = new PostierClient({ baseUrl: 'https://mail.example.com', token: 'pst_TOPSECRET', timeoutMs: 1000 });
    for (const c of [client, client.withOptions({ throwOnError: false })]) {
      expect(inspect(c, { depth: 5, showHidden: true })).not.toContain('TOPSECRET');
      expect(format('%o', c)).not.toContain('TOPSECRET');
      expect(JSON.stringify({ client: c })).not.toContain('TOPSECRET');
    }
  });

  it('still sends the token after withOptions', async () => {
    const api = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"items":[],"total":0}');
    });
    const client = new PostierClient({ baseUrl: api.url, token: 'pst_TOPSECRET' }).withOptions({ timeoutMs: 3000 });
    expect(await client.listTemplates()).toEqual({ items: [], total: 0 });
    expect(api.requests.map((r) => r.authorization)).toEqual(['Bearer pst_TOPSECRET']);
  });
});

describe('TypeScript client refuses what no request can carry, rather than a retryable network_error (outside review)', () => {
  it.each(['mail.example.com', 'ftp://mail.example.com', 'https://user:pw@mail.example.com', ''])(
    'refuses baseUrl %j when it is made',
    (baseUrl) => {
      expect(() => new PostierClient({ baseUrl, token: 'pst_x', throwOnError: false })).toThrow(TypeError);
    },
  );

  it('refuses a token with a space or a line break when it is made', () => {
    for (const token of ['pst_a b', 'pst_a\nb', 'pst_é'])
      expect(() => new PostierClient({ baseUrl: 'http://127.0.0.1:1', token })).toThrow(TypeError);
  });

  it('rejects an idempotency key the server would refuse or fetch cannot send, and sends none of them', async () => {
    const api = await server((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end('{"items":[]}');
    });
    const client = new PostierClient({ baseUrl: api.url, token: 'pst_x', throwOnError: false });
    for (const key of ['', 'order €12', 'a\r\nX-Injected: 1', 'k'.repeat(256), 'with space']) {
      await expect(client.send(message, { idempotencyKey: key })).rejects.toThrow(TypeError);
    }
    expect(api.requests).toEqual([]);
    expect(await client.send(message, { idempotencyKey: 'order-12' })).toEqual({ ok: true, value: { items: [] } });
  });
});

describe('TypeScript client: a 2xx answer that is not a JSON object (outside review)', () => {
  it.each(['null', '[]', '"sent"', '42', ''])('is invalid_response, not a value, for %j', async (body) => {
    const api = await server((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(body);
    });
    const r = await new PostierClient({ baseUrl: api.url, token: 'pst_x', throwOnError: false }).send(message);
    expect(r).toMatchObject({ ok: false, error: { status: 201, code: 'invalid_response', retryable: false } });
  });

  it('a body cut short of its Content-Length is a retryable network_error', async () => {
    const { createServer: tcp } = await import('node:net');
    const s = tcp((socket) => {
      socket.once('data', () =>
        socket.end('HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"items":[]}'),
      );
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      const r = await new PostierClient({ baseUrl: url, token: 'pst_x', throwOnError: false }).send(message);
      expect(r).toMatchObject({ ok: false, error: { status: 0, code: 'network_error', retryable: true } });
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
});

describe("TypeScript client: the server's Retry-After reaches the caller (outside review)", () => {
  it('as retryAfter seconds on a 429 or 503, from delta-seconds or an HTTP date, JSON or not', async () => {
    const answers: [number, Record<string, string>, string][] = [
      [
        429,
        { 'retry-after': '7', 'content-type': 'application/json' },
        '{"error":{"code":"rate_limited","message":"slow down"}}',
      ],
      [
        503,
        { 'retry-after': new Date(Date.now() + 120_000).toUTCString(), 'content-type': 'text/html' },
        '<h1>503</h1>',
      ],
      [503, { 'content-type': 'application/json' }, '{"error":{"code":"unavailable","message":"later"}}'],
    ];
    const got = [];
    for (const [status, headers, body] of answers) {
      const api = await server((_req, res) => {
        res.writeHead(status, headers);
        res.end(body);
      });
      const r = await new PostierClient({ baseUrl: api.url, token: 'pst_x', throwOnError: false }).send(message, {
        idempotencyKey: 'retry-after-1',
      });
      if (r.ok) throw new Error('expected an error');
      got.push(r.error);
    }
    expect(got[0]).toMatchObject({ status: 429, code: 'rate_limited', retryable: true, retryAfter: 7 });
    expect(got[1]).toMatchObject({ status: 503, code: 'invalid_response', retryable: true });
    expect(got[1]!.retryAfter).toBeGreaterThan(60);
    expect(got[1]!.retryAfter).toBeLessThanOrEqual(120);
    expect(got[2]).toMatchObject({ status: 503, code: 'unavailable', retryAfter: undefined });
  });
});
