import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, serve } from '../src/app/serve.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { sendOk, waitForStatus } from './helpers/delivery.js';
import { invoiceExample, pdfBytes } from './helpers/fixtures.js';

describe.each(backends)('capture mode on %s', (backend) => {
  let t: TestContext;
  let running: Running;

  beforeAll(async () => {
    // No SMTP_HOST: the worker delivers to the embedded capture server (random port here).
    t = await createTestContext(backend, { CAPTURE_SMTP_PORT: '0', WORKER_POLL_MS: '20' });
    running = await serve(t.services, { api: false, worker: true });
  });
  afterAll(async () => {
    await running.stop();
    await t.close();
  });

  it('captures what the worker sends instead of delivering it, and shows it in the dev inbox', async () => {
    expect(running.capture).not.toBeNull();
    const [id] = await sendOk(t, { ...invoiceExample(), cc: 'compta@rgz.bj', bcc: 'archive@rgz.bj' });
    await waitForStatus(t, [id!], ['captured']);
    const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json();
    expect(msg.smtp_response).toMatch(/^250 Ok captured [0-9a-f-]{36}$/);
    expect(msg.status).toBe('captured');
    expect(msg.sent_at).not.toBeNull();
    expect(msg.events.map((e: { type: string }) => e.type)).toContain('captured');
    expect(msg.events.map((e: { type: string }) => e.type)).not.toContain('sent');

    const list = await t.inject({ method: 'GET', url: '/api/v1/dev/inbox' });
    expect(list.statusCode).toBe(200);
    const body = list.json();
    expect(body.total).toBe(1);
    const item = body.items[0];
    expect(item).toMatchObject({ from: '"RGZ Notifications" <noreply@rgz.bj>', subject: 'Facture RGZ — février 2026' });
    expect(item.to.sort()).toEqual(['archive@rgz.bj', 'compta@rgz.bj', 'reseller@techconnect.bj']);
    expect(item.size).toBeGreaterThan(pdfBytes().length);
    expect(Date.parse(item.date)).toBeGreaterThan(0);

    const parsed = (await t.inject({ method: 'GET', url: `/api/v1/dev/inbox/${item.id}` })).json();
    expect(parsed).toMatchObject({
      subject: 'Facture RGZ — février 2026',
      message_id: msg.smtp_message_id,
      cc: 'compta@rgz.bj',
      reply_to: 'support@rgz.bj',
    });
    expect(parsed.text).toContain('Montant: 450000 FCFA');
    expect(parsed.html).toContain('invoices/latest');
    expect(parsed.attachments).toEqual([
      {
        index: 0,
        filename: 'invoice_2026-02.pdf',
        content_type: 'application/pdf',
        size: pdfBytes().length,
        content_id: null,
      },
    ]);
    expect(parsed.headers.some((h: { name: string }) => h.name === 'message-id')).toBe(true);

    const raw = await t.inject({ method: 'GET', url: `/api/v1/dev/inbox/${item.id}/raw` });
    expect(raw.headers['content-type']).toBe('message/rfc822');
    expect(raw.body).toContain(`Message-ID: ${msg.smtp_message_id}`);

    const att = await t.inject({ method: 'GET', url: `/api/v1/dev/inbox/${item.id}/attachments/0` });
    expect(att.headers['content-type']).toBe('application/pdf');
    expect(Buffer.compare(att.rawPayload, pdfBytes())).toBe(0);
    expect((await t.inject({ method: 'GET', url: `/api/v1/dev/inbox/${item.id}/attachments/1` })).statusCode).toBe(404);
  });

  it('pages the inbox, answers 404/400 for unknown or bad ids, needs an admin key, and clears', async () => {
    await t.inject({ method: 'DELETE', url: '/api/v1/dev/inbox' });
    const ids = await sendOk(t, { ...invoiceExample(), to: ['p1@example.com', 'p2@example.com', 'p3@example.com'] });
    await waitForStatus(t, ids, ['captured']);
    const first = (await t.inject({ method: 'GET', url: '/api/v1/dev/inbox?limit=2' })).json();
    expect(first.items).toHaveLength(2);
    expect(first.total).toBe(3);
    const second = (
      await t.inject({ method: 'GET', url: `/api/v1/dev/inbox?limit=2&cursor=${first.next_cursor}` })
    ).json();
    expect(second.items).toHaveLength(1);
    expect(second.next_cursor).toBeNull();
    expect(new Set([...first.items, ...second.items].map((i: { id: string }) => i.id)).size).toBe(3);

    const missing = await t.inject({ method: 'GET', url: '/api/v1/dev/inbox/0190c4a2-0000-7000-8000-000000000000' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('not_found');
    expect((await t.inject({ method: 'GET', url: '/api/v1/dev/inbox/x' })).statusCode).toBe(400);
    expect((await t.inject({ method: 'GET', url: '/api/v1/dev/inbox?cursor=zzz' })).statusCode).toBe(400);
    expect((await t.inject({ method: 'GET', url: '/api/v1/dev/inbox', token: null })).statusCode).toBe(401);

    const cleared = await t.inject({ method: 'DELETE', url: '/api/v1/dev/inbox' });
    expect(cleared.json()).toEqual({ deleted: 3 });
    expect((await t.inject({ method: 'GET', url: '/api/v1/dev/inbox' })).json().total).toBe(0);
  });

  it('counts captured mail as captured, never as sent, on the dashboard and in its daily series', async () => {
    const ids = await sendOk(t, { ...invoiceExample(), to: ['s1@example.com', 's2@example.com'] });
    await waitForStatus(t, ids, ['captured']);
    const stats = (await t.inject({ method: 'GET', url: '/api/v1/email/stats?days=1' })).json();
    expect(stats.today.sent).toBe(0);
    expect(stats.today.captured).toBeGreaterThanOrEqual(2);
    expect(stats.series.at(-1).sent).toBe(0);
    expect(stats.series.at(-1).captured).toBe(stats.today.captured);
  });

  it('says in GET /api/v1/system that mail is captured, with the capture transport and no secret', async () => {
    const res = await t.inject({ method: 'GET', url: '/api/v1/system' });
    expect(res.statusCode).toBe(200);
    const sys = res.json();
    expect(sys.mode).toBe('capture');
    expect(sys.transports).toHaveLength(1);
    expect(sys.transports[0]).toMatchObject({ name: 'capture', tls: 'none', authenticated: false });
    expect(sys.transports[0].address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(sys.database.kind).toBe(backend);
    if (backend === 'sqlite') {
      expect(sys.database.server).toMatch(/^SQLite 3\.\d+\.\d+$/);
      // Node-API 10 (Node 22.14+, 24) runs better-sqlite3 13, Node 20 runs 12.
      expect(sys.database.driver).toBe(
        Number(process.versions.napi) >= 10 ? 'better-sqlite3 13 (Node-API)' : 'better-sqlite3 12',
      );
    } else {
      expect(sys.database.server).toMatch(/^PostgreSQL \d+/);
      expect(sys.database.driver).toBe('pg');
    }
    expect(sys.readiness.database.status).toBe('ok');
    expect(sys.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(sys.feedback[0]).toMatchObject({ source: 'ses_sns', configured: false });
    expect(sys.dkim).toEqual([]);
    expect(res.body).not.toContain(t.config.adminToken!);
    expect((await t.inject({ method: 'GET', url: '/api/v1/system', token: null })).statusCode).toBe(401);
  });
});

describe('capture on a port the system chose (CAPTURE_SMTP_PORT=0), served with the API', () => {
  let t: TestContext;
  let running: Running;
  beforeAll(async () => {
    t = await createTestContext('sqlite', { CAPTURE_SMTP_PORT: '0', PORT: '0' });
    running = await serve(t.services, { api: true, worker: false });
  });
  afterAll(async () => {
    await running?.stop();
    await t?.close();
  });

  it("checks the capture server's real port in /readyz and names it in GET /api/v1/system", async () => {
    const port = running.capture!.port;
    expect(port).toBeGreaterThan(0);
    // The served app, not the test context's: it is the one serve() built with the capture server.
    const ready = await running.app!.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json().checks.smtp).toMatchObject({ status: 'ok' });
    expect(ready.statusCode).toBe(200);
    const sys = await running.app!.inject({
      method: 'GET',
      url: '/api/v1/system',
      headers: { authorization: `Bearer ${t.config.adminToken}` },
    });
    expect(sys.statusCode).toBe(200);
    expect(sys.json().transports).toEqual([expect.objectContaining({ name: 'capture', address: `127.0.0.1:${port}` })]);
  });
});
