import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/platform/db/database.js';
import { readinessHttp } from '../src/observability/http.js';
import { databaseCheck } from '../src/observability/index.js';
import { createLogger } from '../src/platform/log.js';
import { sendOk } from './helpers/archive.js';
import { SmtpSink } from './support/smtp-sink.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { invoiceExample, pdfBytes } from './helpers/fixtures.js';

/** Reads one sample from the Prometheus text format (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (want.every((l) => line.includes(l))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe.each(backends)('observability on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  const metrics = async () => (await t.inject({ method: 'GET', url: '/metrics', token: null })).body;
  const invoiceLabels = { template: 'billing_invoice_monthly', category: 'billing' };

  it('counts accepted, sent, failed, bounced and complaints by template and category, and SMTP reply codes', async () => {
    const before = await metrics();
    const ids = await sendOk(t, { ...invoiceExample(), to: ['a@x.bj', 'b@x.bj', 'c@x.bj'] });
    const now = Date.now();
    // The delivery worker and the bounce handler record these same events through the event log,
    // with the labels of the message row they hold (the metrics subscriber reads no database).
    const rows = await t.services.db
      .selectFrom('email_messages')
      .select(['id', 'template_key', 'category', 'created_at'])
      .where('id', 'in', ids)
      .execute();
    const labels = (id: string) => rows.find((r) => r.id === id);
    await t.services.events.record(t.services.db, [
      { messageId: ids[0]!, type: 'attempt', at: now, data: { code: 250 } },
      { messageId: ids[0]!, type: 'sent', at: now, labels: labels(ids[0]!) },
      { messageId: ids[1]!, type: 'attempt', at: now, data: { code: 550 } },
      { messageId: ids[1]!, type: 'failed', at: now, labels: labels(ids[1]!) },
      { messageId: ids[2]!, type: 'bounced', at: now, labels: labels(ids[2]!) },
      { messageId: ids[2]!, type: 'complaint', at: now, labels: labels(ids[2]!) },
    ]);
    const after = await metrics();
    const delta = (name: string, labels: Record<string, string> = invoiceLabels) =>
      sample(after, name, labels) - sample(before, name, labels);
    expect(delta('postier_emails_accepted_total')).toBe(3);
    expect(delta('postier_emails_sent_total')).toBe(1);
    expect(delta('postier_emails_failed_total')).toBe(1);
    expect(delta('postier_emails_bounced_total')).toBe(1);
    expect(delta('postier_emails_complaints_total')).toBe(1);
    expect(delta('postier_smtp_replies_total', { code: '250' })).toBe(1);
    expect(delta('postier_smtp_replies_total', { code: '550' })).toBe(1);
    expect(delta('postier_accept_duration_seconds_count', {})).toBe(1);
    expect(delta('postier_delivery_duration_seconds_count', { template: 'billing_invoice_monthly' })).toBe(1);
  });

  it('reports queue depth and the oldest queued age from the database at scrape time', async () => {
    const [id] = await sendOk(t, invoiceExample());
    await t.services.db
      .updateTable('email_messages')
      .set({ created_at: Date.now() - 3_600_000 })
      .where('id', '=', id!)
      .execute();
    const text = await metrics();
    const depth = await t.services.db
      .selectFrom('email_messages')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', 'in', ['queued', 'sending'])
      .executeTakeFirstOrThrow();
    expect(sample(text, 'postier_queue_depth')).toBe(Number(depth.n));
    expect(sample(text, 'postier_queue_oldest_age_seconds')).toBeGreaterThanOrEqual(3600);
  });

  it('answers /readyz 200 when the database and the SMTP relay answer, 503 naming SMTP when it does not', async () => {
    const sink = await SmtpSink.start();
    const up = await createTestContext(backend, {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(sink.port),
      SMTP_USE_TLS: 'false',
    });
    try {
      const res = await up.inject({ method: 'GET', url: '/readyz', token: null });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        status: 'ok',
        checks: { database: { status: 'ok' }, smtp: { status: 'ok' } },
      });
    } finally {
      await up.close();
      await sink.close();
    }
    // Port 1 refuses connections: a relay that is down.
    const down = await createTestContext(backend, { SMTP_HOST: '127.0.0.1', SMTP_PORT: '1', SMTP_USE_TLS: 'false' });
    try {
      const res = await down.inject({ method: 'GET', url: '/readyz', token: null });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({
        status: 'unavailable',
        checks: { database: { status: 'ok' }, smtp: { status: 'fail' } },
      });
    } finally {
      await down.close();
    }
  });
});

describe('observability, database-independent', () => {
  it('answers /readyz 503 naming the failing check when the database is unreachable', async () => {
    // Port 1 refuses connections: a PostgreSQL server that is down.
    const database = openDatabase('postgres://postgres@127.0.0.1:1/postier');
    const app = Fastify();
    await app.register(readinessHttp, {
      checks: [databaseCheck(database.db), { name: 'smtp', check: async () => undefined }],
    });
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({
      status: 'unavailable',
      checks: { database: { status: 'fail', error: 'ECONNREFUSED' }, smtp: { status: 'ok' } },
    });
    await app.close();
    await database.close();
  });

  it('guards /metrics with METRICS_TOKEN when it is set', async () => {
    const t = await createTestContext('sqlite', { METRICS_TOKEN: 'scrape-secret-123', API_AUTH_MAX_FAILURES: '2' });
    try {
      expect((await t.inject({ method: 'GET', url: '/metrics', token: null })).statusCode).toBe(401);
      expect((await t.inject({ method: 'GET', url: '/metrics', token: 'wrong-secret-1234' })).statusCode).toBe(401);
      const ok = await t.inject({ method: 'GET', url: '/metrics', token: 'scrape-secret-123' });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['content-type']).toContain('text/plain');
      expect(ok.body).toContain('postier_queue_depth');

      // Wrong tokens from one client are slowed, then refused even with the right one.
      const from = (token: string | null) =>
        t.inject({ method: 'GET', url: '/metrics', token, remoteAddress: '203.0.113.10' });
      expect((await from('wrong-secret-1234')).statusCode).toBe(401);
      expect((await from('wrong-secret-5678')).statusCode).toBe(401);
      const locked = await from('scrape-secret-123');
      expect(locked.statusCode).toBe(429);
      expect(locked.json().error.code).toBe('too_many_failed_logins');
      expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
      // Another client is not touched; loopback (a trusted proxy by default) is never counted.
      expect(
        (await t.inject({ method: 'GET', url: '/metrics', token: 'scrape-secret-123', remoteAddress: '198.51.100.4' }))
          .statusCode,
      ).toBe(200);
      for (let i = 0; i < 3; i++)
        expect((await t.inject({ method: 'GET', url: '/metrics', token: 'wrong-secret-0000' })).statusCode).toBe(401);
      expect((await t.inject({ method: 'GET', url: '/metrics', token: 'scrape-secret-123' })).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('without METRICS_TOKEN, /metrics answers this machine only', async () => {
    const t = await createTestContext('sqlite');
    try {
      expect((await t.inject({ method: 'GET', url: '/metrics', token: null })).statusCode).toBe(200);
      const remote = await t.inject({ method: 'GET', url: '/metrics', token: null, remoteAddress: '203.0.113.11' });
      expect(remote.statusCode).toBe(401);
      expect(remote.json().error).toMatchObject({
        code: 'unauthorized',
        message: expect.stringContaining('METRICS_TOKEN'),
      });
      // An API key is not a metrics token.
      expect((await t.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.11' })).statusCode).toBe(401);
    } finally {
      await t.close();
    }
  });

  it('logs message ids as JSON but never the password, the attachment data or the token', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    const t = await createTestContext('sqlite');
    // Same services, same app, but the logger writes where the test can read it.
    const log = createLogger('debug', sink);
    t.services.log = log;
    const { buildApp } = await import('../src/http/app.js');
    const app = await buildApp(t.services);
    try {
      const password = 'Vq7#mR2p-Lw9z-unique';
      const pdf = pdfBytes().toString('base64');
      const headers = { authorization: 'Bearer test-admin-token-0123456789abcdef' };
      const sent = await app.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        headers,
        payload: {
          to: 'c@x.bj',
          template_key: 'instance_provisioned',
          variables: {
            customer_name: 'A',
            instance_name: 'i',
            protocol: 'https',
            domain: 'd.bj',
            login: 'l',
            password,
            plan: 'p',
          },
        },
      });
      expect(sent.statusCode).toBe(201);
      const withPdf = await app.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        headers,
        payload: invoiceExample(),
      });
      expect(withPdf.statusCode).toBe(201);
      // Whatever a future log line dumps whole must be redacted too.
      log.error(
        {
          request: { body: { variables: { password }, attachments: [{ filename: 'a.pdf', data_base64: pdf }] } },
          req: { headers },
        },
        'context dump',
      );

      const all = lines.join('\n');
      for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
      expect(all).toContain(sent.json().items[0].id);
      expect(all).toContain(withPdf.json().items[0].id);
      expect(all).toContain('context dump');
      expect(all).not.toContain(password);
      expect(all).not.toContain(pdf.slice(0, 40));
      expect(all).not.toContain('test-admin-token-0123456789abcdef');
    } finally {
      await app.close();
      await t.close();
    }
  });
});
