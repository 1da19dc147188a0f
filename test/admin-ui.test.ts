import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_CSP, registerAdminUi } from '../src/http/admin-ui.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { ensureWebBuilt } from './helpers/web-build.js';

describe('admin UI serving', () => {
  let t: TestContext;
  beforeAll(async () => {
    await ensureWebBuilt();
    t = await createTestContext('sqlite');
  });
  afterAll(() => t.close());

  it('redirects / to /admin/', async () => {
    const res = await t.inject({ method: 'GET', url: '/', token: null });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/admin/');
  });

  it('serves the app without a token, with a CSP that allows only this origin', async () => {
    for (const url of ['/admin', '/admin/', '/admin/messages/0196-x', '/admin/recipients/a%40b.c']) {
      const res = await t.inject({ method: 'GET', url, token: null });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toContain('text/html');
      expect(res.body).toContain('<div id="root">');
      expect(res.headers['content-security-policy']).toBe(ADMIN_CSP);
      expect(res.headers['cache-control']).toBe('no-cache');
    }
    expect(ADMIN_CSP).toContain("default-src 'self'");
    expect(ADMIN_CSP).toContain("script-src 'self'");
    expect(ADMIN_CSP).not.toMatch(/script-src[^;]*unsafe/);
    expect(ADMIN_CSP).toContain("frame-ancestors 'none'");
  });

  it('serves hashed assets as immutable and references nothing outside the server', async () => {
    const index = (await t.inject({ method: 'GET', url: '/admin/', token: null })).body;
    const assets = [...index.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(1);
    for (const a of assets) {
      expect(a.startsWith('/admin/'), a).toBe(true);
      const res = await t.inject({ method: 'GET', url: a, token: null });
      expect(res.statusCode, a).toBe(200);
      if (a.includes('/assets/')) {
        expect(res.headers['cache-control']).toContain('immutable');
        expect(res.body).not.toMatch(/https?:\/\/(fonts\.googleapis|cdn|unpkg)/);
      }
    }
  });

  it('keeps the API behind its token', async () => {
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/messages', token: null })).statusCode).toBe(401);
    expect((await t.inject({ method: 'GET', url: '/admin/assets/missing.js', token: null })).statusCode).toBe(404);
  });

  it('says how to build the UI when it is not built', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'postier-noui-'));
    const app = Fastify();
    try {
      await registerAdminUi(app, dir);
      const res = await app.inject({ method: 'GET', url: '/admin/templates' });
      expect(res.statusCode).toBe(503);
      expect(res.body).toContain('npm run build');
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
