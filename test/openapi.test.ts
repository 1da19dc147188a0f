import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';

describe.each(backends)('OpenAPI document and docs page on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  it('serves OpenAPI 3 publicly, with the send endpoint and its body schema taken from the route', async () => {
    const res = await t.inject({ method: 'GET', url: '/api/v1/openapi.json', token: null });
    expect(res.statusCode).toBe(200);
    const spec = res.json();
    expect(spec.openapi).toMatch(/^3\./);
    const send = spec.paths['/api/v1/email/send'].post;
    const body = send.requestBody.content['application/json'].schema;
    // template_key or, for a raw send, subject and html/text: the service checks which (422).
    expect(body.required).toEqual(['to']);
    expect(Object.keys(body.properties)).toEqual(
      expect.arrayContaining([
        'to',
        'template_key',
        'variables',
        'attachments',
        'cc',
        'bcc',
        'reply_to',
        'locale',
        'from',
        'subject',
        'html',
        'text',
        'tags',
        'metadata',
      ]),
    );
    expect(spec.paths['/api/v1/email/batch'].post.requestBody.content['application/json'].schema.required).toEqual([
      'messages',
    ]);
    expect(body.properties.attachments.items.required).toEqual(['filename', 'content_type', 'data_base64']);
    // Every route is in the document, with path parameters in OpenAPI form.
    for (const p of [
      '/api/v1/email/messages/{id}',
      '/api/v1/email/messages/{id}/resend',
      '/api/v1/email/recipients/{email}/erase',
      '/readyz',
    ]) {
      expect(spec.paths).toHaveProperty([p]);
    }
    expect(spec.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(spec.paths['/readyz'].get.security).toEqual([]);
    expect(spec.paths['/api/v1/email/send'].post.security).toBeUndefined();
  });

  it('documents every route with a schema for every status it can answer: its successes, and the error shape for each 4xx and 5xx', async () => {
    const spec = (await t.inject({ method: 'GET', url: '/api/v1/openapi.json', token: null })).json();
    type Media = Record<string, { schema?: Record<string, unknown> }>;
    type Operation = { responses: Record<string, { description: string; content?: Media }>; 'x-auth': string };
    const operations = Object.entries(spec.paths as Record<string, Record<string, Operation>>).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, op })),
    );
    expect(operations.length).toBeGreaterThan(40);
    const problems: string[] = [];
    for (const { route, op } of operations) {
      const statuses = Object.keys(op.responses);
      if (!statuses.some((s) => /^[23]/.test(s))) problems.push(`${route}: no success answer documented`);
      for (const [status, r] of Object.entries(op.responses)) {
        // A 204 and a redirect have no body; everything else names its media types, each with a schema.
        if (status === '204' || status.startsWith('3')) continue;
        const media = Object.entries(r.content ?? {});
        if (media.length === 0 || media.some(([, m]) => !m.schema)) problems.push(`${route} ${status}: no schema`);
        const json = r.content?.['application/json']?.schema as
          | { properties?: Record<string, { properties?: object }> }
          | undefined;
        // GET /readyz answers 503 with its own body: which check failed.
        const ownBody = route === 'GET /readyz' && status === '503';
        if (/^[45]/.test(status) && json && !ownBody && !json.properties?.error?.properties)
          problems.push(`${route} ${status}: not the error shape`);
      }
      // What the server itself may answer on any route, by its auth level.
      const need = [
        '500',
        '503',
        ...(op['x-auth'] !== 'public' ? ['401'] : []),
        ...(op['x-auth'] === 'admin' ? ['403'] : []),
      ];
      for (const s of need) if (!statuses.includes(s)) problems.push(`${route}: ${s} not documented`);
    }
    expect(problems).toEqual([]);
    // A route's own errors are there too, and a success schema lists its fields.
    expect(Object.keys(spec.paths['/api/v1/email/send'].post.responses)).toEqual(
      expect.arrayContaining(['201', '400', '404', '409', '413', '415', '422']),
    );
    expect(
      Object.keys(
        spec.paths['/api/v1/email/messages/{id}'].get.responses['200'].content['application/json'].schema.properties,
      ),
    ).toEqual(expect.arrayContaining(['id', 'to', 'status', 'recipients', 'attachments', 'events', 'from']));
  });

  it('serves the docs page and its assets from this server only: no external URL, a same-origin CSP', async () => {
    const page = await t.inject({ method: 'GET', url: '/docs/', token: null });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['content-security-policy']).not.toMatch(/https:|swagger\.io/);
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(2);
    for (const a of assets) {
      expect(a).not.toMatch(/^(https?:)?\/\//);
      expect(
        (await t.inject({ method: 'GET', url: new URL(a, 'http://x/docs/').pathname, token: null })).statusCode,
      ).toBe(200);
    }
    const init = await t.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js', token: null });
    expect(init.body).toContain('/api/v1/openapi.json');
    // No URL string literal to fetch from elsewhere (comments may cite web pages).
    expect(init.body).not.toMatch(/["'`]https?:\/\//);
  });
});
