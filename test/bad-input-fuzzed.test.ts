import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOptions } from '../src/accept/submission/options.js';
import type { RawField } from '../src/platform/mime-fields.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { SmtpTalk } from './helpers/smtp-talk.js';
import { mime, sendKey, startSubmissionFor } from './helpers/submission.js';
import { newTemplate } from './helpers/templates.js';

/**
 * Requests an outside fuzzing run (2026-12-03) found answered with a 500 on PostgreSQL, a stack
 * overflow on both databases, or stored in a way that read back changed. Each must be a clear 4xx
 * with a code, or work, on both databases, and leave what is stored readable.
 */
describe.each(backends)('inputs found by fuzzing, on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  const send = (payload: object | string, headers: Record<string, string> = {}) =>
    t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
      headers: { 'content-type': 'application/json', ...headers },
    });
  const raw = (over: Record<string, unknown> = {}) => ({ to: 'fuzz@example.com', subject: 'Hi', text: 'x', ...over });
  const expectCode = (res: { statusCode: number; body: string; json(): any }, status: number, code: string) => {
    expect(res.statusCode, res.body).toBe(status);
    expect(res.json().error.code).toBe(code);
  };

  it("refuses a class named after Object's prototype, and a template of that class sends unlimited", async () => {
    for (const cls of ['constructor', '__proto__', 'toString', 'hasOwnProperty'])
      expectCode(await send(raw({ class: cls })), 422, 'validation_failed');
    const batch = await t.inject({
      method: 'POST',
      url: '/api/v1/email/batch',
      payload: { messages: [raw({ class: 'constructor' }), raw()] },
    });
    expect(batch.statusCode).toBe(200);
    const [bad, good] = batch.json().items;
    expect(bad.error.code).toBe('validation_failed');
    expect(good.items[0].status).toBe('queued');

    // A template's class is any word: one no limit names is unlimited, `constructor` too.
    const created = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('fuzz_proto', { class: 'constructor' }),
    });
    expect(created.statusCode, created.body).toBe(201);
    const sent = await send({ to: 'p@example.com', template_key: 'fuzz_proto', variables: { name: 'x' } });
    expect(sent.statusCode, sent.body).toBe(201);
    expect(sent.json().items[0].status).toBe('queued');
  });

  it('refuses a template version past a 32-bit integer with a 400, and answers 404 up to it', async () => {
    const big = 2 ** 31;
    expectCode(
      await t.inject({ method: 'GET', url: `/api/v1/email/templates/billing_invoice_monthly/versions/${big}` }),
      400,
      'invalid_request',
    );
    expectCode(
      await t.inject({ method: 'GET', url: `/api/v1/email/templates/billing_invoice_monthly/versions/${big - 1}` }),
      404,
      'template_not_found',
    );
    expectCode(
      await send({ to: 'a@example.com', template_key: 'billing_invoice_monthly', template_version: big }),
      400,
      'invalid_request',
    );
    expectCode(
      await send('{"to":"a@example.com","template_key":"billing_invoice_monthly","template_version":1e308}'),
      400,
      'invalid_request',
    );
    for (const [url, payload] of [
      ['/api/v1/email/templates/billing_invoice_monthly/activate', '{"version":9223372036854775807}'],
      ['/api/v1/email/templates/billing_invoice_monthly/test', JSON.stringify({ version: big })],
    ] as const)
      expectCode(
        await t.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json' } }),
        400,
        'invalid_request',
      );
  });

  it('refuses a NUL character in a path or a query string before any query runs', async () => {
    for (const [method, url] of [
      ['GET', '/api/v1/email/messages?to=%00'],
      ['GET', '/api/v1/email/messages?q=category:%00'],
      ['GET', '/api/v1/email/templates?category=%00'],
      ['GET', '/api/v1/email/templates/%00'],
      ['GET', '/api/v1/email/templates/a%00b/versions/1'],
      ['DELETE', '/api/v1/keys/%00'],
      ['GET', '/api/v1/email/suppressions?email=%00'],
    ] as const)
      expectCode(await t.inject({ method, url }), 400, 'invalid_request');
    // Nothing else in a URL is touched: an encoded character that is not NUL still reaches the route.
    expectCode(await t.inject({ method: 'GET', url: '/api/v1/email/templates/%01' }), 404, 'template_not_found');
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/messages?to=a%40example.com' })).statusCode).toBe(200);
  });

  it('reads since and until as a date-time or a day, and refuses a leap second', async () => {
    await send(raw({ to: 'when@example.com' }));
    const list = (query: string) =>
      t.inject({ method: 'GET', url: `/api/v1/email/messages?to=when@example.com&${query}` });
    expectCode(await list('since=2026-12-03T23:59:60Z'), 400, 'invalid_request');
    expectCode(await list('until=2026-12-31T23:59:60Z'), 400, 'invalid_request');
    const day = await list('since=2020-01-01');
    expect(day.statusCode, day.body).toBe(200);
    expect(day.json().items).toHaveLength(1);
    const before = await list('until=2020-01-01');
    expect(before.json().items).toHaveLength(0);
    expectCode(await list('since=2026-02-30'), 400, 'invalid_request');
  });

  it('refuses a body nested past 64 levels wherever it nests, and takes one nested less', async () => {
    const nest = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    const deep = nest(5000);
    expectCode(await send(`{"to":"a@example.com","subject":"S","text":"x","metadata":${deep}}`), 400, 'invalid_json');
    expectCode(
      await send(
        `{"to":"a@example.com","subject":"S","text":"x","metadata":{"a":${'['.repeat(20000)}${']'.repeat(20000)}}}`,
        {
          'idempotency-key': 'deep-1',
        },
      ),
      400,
      'invalid_json',
    );
    const template = JSON.stringify(newTemplate('fuzz_deep')).replace(/}$/, `,"sample_variables":{"z":${deep}}}`);
    expectCode(
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/templates',
        payload: template,
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'invalid_json',
    );
    expectCode(
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/batch',
        payload: `{"messages":[${nest(100)}]}`,
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'invalid_json',
    );
    // Variables nested well within the limit render as before.
    await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('fuzz_nested', { subject: 'Hi {{ name.a.a.a.a.a }}' }),
    });
    const ok = await send(`{"to":"n@example.com","template_key":"fuzz_nested","variables":{"name":${nest(50)}}}`, {
      'idempotency-key': 'nested-ok',
    });
    expect(ok.statusCode, ok.body).toBe(201);
  });

  it('refuses an unpaired surrogate anywhere in a body, and stores a paired one as sent', async () => {
    for (const payload of [
      '{"to":"a@example.com","subject":"a\\ud800b","text":"x"}',
      '{"to":"a@example.com","subject":"S","text":"x","from":"N\\udc00 <mail@example.com>"}',
      '{"to":"a@example.com","subject":"S","text":"x","metadata":{"k\\ud83d":"v"}}',
    ])
      expectCode(await send(payload), 400, 'invalid_request');
    expectCode(
      await t.inject({
        method: 'POST',
        url: '/api/v1/keys',
        payload: '{"name":"k\\udfff","scope":"send"}',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'invalid_request',
    );
    const res = await send('{"to":"emoji@example.com","subject":"Bravo \\ud83c\\udf89","text":"x"}');
    expect(res.statusCode, res.body).toBe(201);
    const detail = await t.inject({ method: 'GET', url: `/api/v1/email/messages/${res.json().items[0].id}` });
    expect(detail.json().subject).toBe('Bravo 🎉');
  });

  it('refuses a webhook URL no delivery could use, on create and on change', async () => {
    const create = (url: string) =>
      t.inject({ method: 'POST', url: '/api/v1/webhooks', payload: { url, event_types: ['sent'] } });
    for (const url of ['http://example.com:99999/h', 'http://', 'https://u:p@example.com/h', 'https://u@example.com/h'])
      expectCode(await create(url), 400, 'invalid_request');
    const made = await create('https://hooks.example.com/postier');
    expect(made.statusCode, made.body).toBe(201);
    const id = made.json().id;
    expectCode(
      await t.inject({
        method: 'PATCH',
        url: `/api/v1/webhooks/${id}`,
        payload: { url: 'https://a:b@hooks.example.com/' },
      }),
      400,
      'invalid_request',
    );
    const kept = await t.inject({ method: 'GET', url: `/api/v1/webhooks/${id}` });
    expect(kept.json().url).toBe('https://hooks.example.com/postier');
  });

  it("takes a template category only as a send's category can be written", async () => {
    for (const category of ['a b', 'Billing', 'a\r\nb', '-lead'])
      expectCode(
        await t.inject({
          method: 'POST',
          url: '/api/v1/email/templates',
          payload: newTemplate('fuzz_cat', { category }),
        }),
        400,
        'invalid_request',
      );
    const ok = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('fuzz_cat', { category: 'billing.v2' }),
    });
    expect(ok.statusCode, ok.body).toBe(201);
  });

  it("names a batch item's idempotency_key field, not a header, when it is malformed", async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/batch',
      payload: { messages: [{ ...raw(), idempotency_key: 'a b' }] },
    });
    expect(res.statusCode).toBe(200);
    const [item] = res.json().items;
    expect(item.error).toMatchObject({ code: 'invalid_request', details: { field: 'idempotency_key' } });
    expect(item.error.message).toMatch(/^idempotency_key:/);
  });
});

describe('X-Postier JSON fields over SMTP', () => {
  const field = (name: string, value: string): RawField => ({
    name,
    key: name.toLowerCase(),
    line: `${name}: ${value}`,
  });
  const refusal = (f: RawField) => {
    try {
      readOptions([f]);
    } catch (error) {
      return String((error as Error).message);
    }
    return 'accepted';
  };

  it('refuses variables or metadata nested past 64 levels, or holding NUL or an unpaired surrogate', () => {
    const nest = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
    expect(refusal(field('X-Postier-Variables', nest(5000)))).toMatch(/nested deeper than 64/);
    expect(refusal(field('X-Postier-Variables', '{"a":"x\\u0000"}'))).toMatch(/NUL/);
    expect(refusal(field('X-Postier-Metadata', '{"a":"\\udc00"}'))).toMatch(/surrogate/);
    expect(
      readOptions([field('X-Postier-Template', 'welcome'), field('X-Postier-Variables', nest(10))]).variables,
    ).toEqual(JSON.parse(nest(10)));
  });
});

/**
 * What encoded words and RFC 2231 parameters decode to is known only after the 250 (the checks
 * before it read raw bytes): a NUL there, or a file name or content type longer than its column,
 * kept an accepted message in the spool for good on PostgreSQL. It must be archived.
 */
describe.each(backends)('SMTP-submitted headers the archive cannot hold as written, on %s', (backend) => {
  let t: TestContext;
  let server: Awaited<ReturnType<typeof startSubmissionFor>>;
  let token: string;
  beforeAll(async () => {
    t = await createTestContext(backend, { SUBMISSION_PORT: '0' });
    server = await startSubmissionFor(t);
    ({ token } = await sendKey(t));
  });
  afterAll(async () => {
    await server?.close();
    await t?.close();
  });

  it('archives a NUL in a decoded subject, From name or file name as U+FFFD, and cuts what outgrows a column', async () => {
    const longName = `${'f'.repeat(300)}.txt`;
    const longType = `application/${'x'.repeat(200)}`;
    const body = [
      '--B',
      'Content-Type: text/plain',
      '',
      'x',
      '--B',
      `Content-Type: ${longType}`,
      `Content-Disposition: attachment; filename="${longName}"`,
      '',
      'zz',
      '--B',
      'Content-Type: text/plain',
      "Content-Disposition: attachment; filename*=utf-8''a%00b.txt",
      '',
      'yy',
      '--B--',
      '',
    ].join('\r\n');
    const raw = mime(
      {
        From: '=?utf-8?Q?E=00vil?= <billing@rgz.bj>',
        Subject: '=?utf-8?Q?a=00b?=',
        'Content-Type': 'multipart/mixed; boundary=B',
      },
      body,
    );
    const c = await SmtpTalk.connect(server.port);
    try {
      await c.command('EHLO erp.rgz.bj');
      expect(await c.login(token)).toMatch(/^235/);
      expect(await c.send('billing@rgz.bj', ['client@example.org'], raw)).toMatch(/^250 /);
    } finally {
      c.close();
    }
    await server.ingested();
    const failing = await t.inject({ method: 'GET', url: '/api/v1/system/submission-spool?failing=true' });
    expect(failing.json().items).toEqual([]);
    const list = await t.inject({ method: 'GET', url: '/api/v1/email/messages?to=client@example.org' });
    expect(list.json().items).toHaveLength(1);
    const detail = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${list.json().items[0].id}` })).json();
    expect(detail.subject).toBe('a\uFFFDb');
    expect(detail.from_name).toBe('E\uFFFDvil');
    const files = detail.attachments.map((a: { filename: string; content_type: string }) => [
      a.filename,
      a.content_type,
    ]);
    expect(files).toEqual([
      [longName.slice(0, 255), 'application/octet-stream'],
      ['a\uFFFDb.txt', 'text/plain'],
    ]);
  });

  it("keeps a template send's From name as written, and refuses one holding a NUL before the 250", async () => {
    const variables = JSON.stringify({
      reseller_name: 'Tech Connect SA',
      month: 'fevrier',
      year: '2026',
      amount_fcfa: '450000',
      link_portal: 'https://admin-rgz.duckdns.org/invoices/latest',
      invoice_number: 'INV-2026-0001',
    });
    const templated = (from: string) =>
      mime({ From: from, 'X-Postier-Template': 'billing_invoice_monthly', 'X-Postier-Variables': variables });
    const c = await SmtpTalk.connect(server.port);
    try {
      await c.command('EHLO erp.rgz.bj');
      expect(await c.login(token)).toMatch(/^235/);
      const ok = await c.send(
        'billing@rgz.bj',
        ['tpl@example.org'],
        templated('"Odoo \\"RGZ\\" \\\\ billing" <billing@rgz.bj>'),
      );
      expect(ok).toMatch(/^250 /);
      const id = /\(1 message: ([0-9a-f-]{36})\)/.exec(ok)![1]!;
      const detail = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json();
      expect(detail.from_name).toBe('Odoo "RGZ" \\ billing');
      const nul = await c.send(
        'billing@rgz.bj',
        ['tpl@example.org'],
        templated('=?utf-8?Q?E=00vil?= <billing@rgz.bj>'),
      );
      expect(nul).toMatch(/^5\d\d 5\.\d\.\d+ /);
    } finally {
      c.close();
    }
  });
});
