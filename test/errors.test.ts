import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample } from './helpers/fixtures.js';

describe.each(backends)('request errors on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, { API_BODY_LIMIT_MB: '1' });
  });
  afterAll(() => t.close());

  const post = (payload: string, contentType = 'application/json') =>
    t.inject({ method: 'POST', url: '/api/v1/email/send', payload, headers: { 'content-type': contentType } });

  const expectError = (res: { statusCode: number; json(): any; body: string }, status: number, code: string) => {
    expect(res.statusCode, res.body).toBe(status);
    const body = res.json();
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error.code).toBe(code);
    expect(typeof body.error.message).toBe('string');
    expect(res.body).not.toMatch(/ at .*\.(ts|js):\d+/); // no stack trace
  };

  it.each([
    ['truncated JSON', '{"to": "a@example.com"'],
    ['not JSON at all', 'to=a@example.com'],
    ['a trailing comma', '{"to": "a@example.com",}'],
  ])('answers 400 invalid_json for %s', async (_n, body) => {
    expectError(await post(body), 400, 'invalid_json');
  });

  it('answers 400 for an empty body', async () => {
    expectError(await post(''), 400, 'invalid_json');
  });

  it('refuses prototype poisoning', async () => {
    const res = await post(JSON.stringify(incidentExample()).replace('{', '{"__proto__":{"admin":true},'));
    expect(res.statusCode).toBe(400);
  });

  it.each([
    ['to as a number', { ...incidentExample(), to: 42 }],
    ['variables as a string', { ...incidentExample(), variables: 'x' }],
    ['to missing', { template_key: 'incident_alert_critical', variables: {} }],
    ['an unknown field', { ...incidentExample(), priority: 'high' }],
    ['attachments as an object', { ...incidentExample(), attachments: { filename: 'a.pdf' } }],
    ['template_version as a string', { ...incidentExample(), template_version: '1' }],
    ['a bad locale', { ...incidentExample(), locale: '../../etc' }],
  ])('answers 400 invalid_request for %s', async (_n, payload) => {
    expectError(await post(JSON.stringify(payload)), 400, 'invalid_request');
  });

  it('answers 422 validation_failed for a send with neither a template nor a subject and body', async () => {
    expectError(await post(JSON.stringify({ to: 'a@example.com', variables: {} })), 422, 'validation_failed');
  });

  it('answers 413 for a body over the limit', async () => {
    const huge = JSON.stringify({
      ...incidentExample(),
      variables: { ...incidentExample().variables, description: 'x'.repeat(1_200_000) },
    });
    expectError(await post(huge), 413, 'payload_too_large');
  });

  it('answers 415 for a content type it cannot read', async () => {
    expectError(await post('<xml/>', 'application/xml'), 415, 'unsupported_media_type');
  });

  it('survives deeply nested JSON', async () => {
    const nested = `{"to":"a@example.com","template_key":"incident_alert_critical","variables":{"x":${'['.repeat(50_000)}${']'.repeat(50_000)}}}`;
    const res = await post(nested);
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
  });

  it('refuses NUL characters anywhere in a body with 400, and stores nothing', async () => {
    const nulInVariable = JSON.stringify({
      ...incidentExample(),
      variables: { ...incidentExample().variables, title: 'A\u0000B' },
    });
    expectError(await post(nulInVariable), 400, 'invalid_request');
    const nulInKey = JSON.stringify({
      ...incidentExample(),
      variables: { ...incidentExample().variables, 'x\u0000': 1 },
    });
    expectError(await post(nulInKey), 400, 'invalid_request');
    const edit = await t.inject({
      method: 'PUT',
      url: '/api/v1/email/templates/support_ticket_created',
      payload: { html_content: '<p>{{ ticket_number }}\u0000</p>' },
    });
    expectError(edit, 400, 'invalid_request');
    // A literal backslash-u text is not a NUL: accepted.
    const literal = JSON.stringify({
      ...incidentExample(),
      variables: { ...incidentExample().variables, title: 'path C:\\u0000' },
    });
    expect((await post(literal)).statusCode).toBe(201);
  });

  it('answers 404 with the error shape for an unknown route', async () => {
    expectError(await t.inject({ method: 'GET', url: '/api/v1/nope' }), 404, 'not_found');
  });

  it('answers what the router refuses in the error shape, without echoing the path', async () => {
    const long = 'x'.repeat(13_000);
    const tooLong = await t.inject({ method: 'GET', url: `/api/v1/email/messages/${long}` });
    expectError(tooLong, 414, 'uri_too_long');
    expect(tooLong.body).not.toContain('xxxxxxxxxx');
    expectError(await t.inject({ method: 'GET', url: '/api/v1/email/messages/%zz' }), 400, 'invalid_url');
  });

  it('answers what Node’s HTTP parser refuses in the error shape, over a real socket', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.server.address() as AddressInfo;
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.end(request));
        let answer = '';
        socket.on('data', (c) => (answer += c));
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
      });
    const headers = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(headers).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(JSON.parse(headers.split('\r\n\r\n')[1]!)).toEqual({
      error: { code: 'headers_too_large', message: expect.any(String) },
    });
    const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(garbage.split('\r\n\r\n')[1]!)).toMatchObject({ error: { code: 'bad_request' } });
  });
});
