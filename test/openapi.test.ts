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
    expect(body.required).toEqual(['to', 'template_key']);
    expect(Object.keys(body.properties)).toEqual(expect.arrayContaining(['to', 'template_key', 'variables', 'attachments', 'cc', 'bcc', 'reply_to', 'locale']));
    expect(body.properties.attachments.items.required).toEqual(['filename', 'content_type', 'data_base64']);
    // Every route is in the document, with path parameters in OpenAPI form.
    for (const p of ['/api/v1/email/messages/{id}', '/api/v1/email/messages/{id}/resend', '/api/v1/email/recipients/{email}/erase', '/readyz']) {
      expect(spec.paths).toHaveProperty([p]);
    }
    expect(spec.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(spec.paths['/readyz'].get.security).toEqual([]);
    expect(spec.paths['/api/v1/email/send'].post.security).toBeUndefined();
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
      expect((await t.inject({ method: 'GET', url: new URL(a, 'http://x/docs/').pathname, token: null })).statusCode).toBe(200);
    }
    const init = await t.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js', token: null });
    expect(init.body).toContain('/api/v1/openapi.json');
    // No URL string literal to fetch from elsewhere (comments may cite web pages).
    expect(init.body).not.toMatch(/["'`]https?:\/\//);
  });
});
