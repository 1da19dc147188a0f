import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smtpTarget, startWorker } from '../src/delivery/start.js';
import type { Worker } from '../src/delivery/worker.js';
import { detail } from './helpers/archive.js';
import { builtMime } from './helpers/built-mime.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { waitForStatus } from './helpers/delivery.js';
import { pdfBytes } from './helpers/fixtures.js';
import { readWithMailparser } from './helpers/mail-readers.js';
import { SmtpSink } from './support/smtp-sink.js';

const raw = (over: Record<string, unknown> = {}) => ({
  to: 'client@techconnect.bj',
  subject: 'Votre commande RMA-2026-0042 est expédiée',
  html: '<p>Bonjour,</p><p>Votre colis est parti. <a href="https://rgz.bj/suivi/42">Suivre</a></p>',
  ...over,
});

describe.each(backends)('raw sends (no stored template) on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, {
      FROM_ALLOWED_DOMAINS: 'billing.rgz.bj, alerts@ops.rgz.bj',
      EMAIL_SUPPRESSION_BYPASS_CATEGORIES: 'incident',
    });
  });
  afterAll(() => t.close());

  const send = (payload: object, token?: string, headers: Record<string, string> = {}) =>
    t.inject({ method: 'POST', url: '/api/v1/email/send', payload, token, headers });
  const count = async () =>
    Number(
      (
        await t.services.db
          .selectFrom('email_messages')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const createKey = async (body: object) => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/keys',
      payload: { name: 'app', scope: 'send', ...body },
    });
    expect(res.statusCode).toBe(201);
    return res.json() as { token: string; allowed_from: string[] | null };
  };

  it('archives the subject and bodies as given, with no template, text derived from the HTML, and the configured sender', async () => {
    const res = await send(raw({ tags: ['rma', 'shipping', 'rma'], metadata: { order: 42, region: 'BJ' } }));
    expect(res.statusCode).toBe(201);
    const [item] = res.json().items;
    expect(item).toMatchObject({ to: 'client@techconnect.bj', status: 'queued' });
    const m = await detail(t, item.id);
    expect(m).toMatchObject({
      template_key: null,
      template_version: null,
      locale: null,
      category: 'general',
      class: 'transactional',
      source: 'api',
      from_email: null,
      subject: 'Votre commande RMA-2026-0042 est expédiée',
      html_content: raw().html,
      tags: ['rma', 'shipping'],
      metadata: { order: 42, region: 'BJ' },
    });
    expect(m.text_content).toContain('Votre colis est parti.');
    expect(m.text_content).toContain('https://rgz.bj/suivi/42');
    expect(m.events.map((e: { type: string }) => e.type)).toEqual(['queued']);

    const [mime] = await builtMime(t, [item.id]);
    const read = await readWithMailparser(mime!);
    expect(read.from).toEqual([{ name: 'RGZ Notifications', address: 'noreply@rgz.bj' }]);
    expect(read.subject).toBe('Votre commande RMA-2026-0042 est expédiée');
    expect(read.html).toContain('href="https://rgz.bj/suivi/42"');
    expect(read.text).toContain('Votre colis est parti.');
  });

  it('sends a text-only message without an HTML part', async () => {
    const res = await send({ to: 'client@techconnect.bj', subject: 'Ping', text: 'Only text here.\n' });
    expect(res.statusCode).toBe(201);
    const id = res.json().items[0].id;
    const m = await detail(t, id);
    expect(m.text_content).toBe('Only text here.\n');
    expect(m.html_content).toBe('');
    const [mime] = await builtMime(t, [id]);
    const head = mime!.toString('latin1').split('\r\n\r\n')[0]!;
    expect(head).toMatch(/^Content-Type: text\/plain; charset=utf-8$/m);
    expect(mime!.toString('latin1')).not.toMatch(/text\/html/);
  });

  it('uses an allowed `from` with its display name in the archive and the delivered From', async () => {
    const res = await send(raw({ from: '"Facturation RGZ, Bénin" <factures@Billing.RGZ.bj>' }));
    expect(res.statusCode).toBe(201);
    const id = res.json().items[0].id;
    const m = await detail(t, id);
    expect(m).toMatchObject({ from_email: 'factures@billing.rgz.bj', from_name: 'Facturation RGZ, Bénin' });
    const read = await readWithMailparser((await builtMime(t, [id]))[0]!);
    expect(read.from).toEqual([{ name: 'Facturation RGZ, Bénin', address: 'factures@billing.rgz.bj' }]);
    // A listed address allows that address only, not its domain.
    expect((await send(raw({ from: 'alerts@ops.rgz.bj' }))).statusCode).toBe(201);
    // The configured sender's domain is always allowed.
    expect((await send(raw({ from: 'Support <support@rgz.bj>' }))).statusCode).toBe(201);
  });

  it('refuses a `from` outside FROM_ALLOWED_DOMAINS with 403 from_not_allowed naming it, and stores nothing', async () => {
    const before = await count();
    for (const from of ['ceo@evil.example', 'other@ops.rgz.bj', 'x@sub.billing.rgz.bj']) {
      const res = await send(raw({ from }));
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toMatchObject({ code: 'from_not_allowed', details: { from } });
      expect(res.json().error.message).toContain(from);
    }
    // The same rule for a templated send that names its own sender.
    const templated = await send({
      to: 'noc@rgz.bj',
      template_key: 'cutover_reminder',
      variables: { cutover_date: '2026-03-01', customer_name: 'A' },
      from: 'noc@evil.example',
    });
    expect(templated.statusCode).toBe(403);
    expect(await count()).toBe(before);
  });

  it("holds a key to its own allowed_from list, within the installation's", async () => {
    const key = await createKey({ allowed_from: ['Billing.rgz.bj'] });
    expect(key.allowed_from).toEqual(['billing.rgz.bj']);
    expect((await send(raw({ from: 'factures@billing.rgz.bj' }), key.token)).statusCode).toBe(201);
    const refused = await send(raw({ from: 'alerts@ops.rgz.bj' }), key.token);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toMatchObject({
      code: 'from_not_allowed',
      details: { from: 'alerts@ops.rgz.bj', allowed_from: ['billing.rgz.bj'] },
    });
    // Without `from`, the configured sender: always allowed.
    expect((await send(raw(), key.token)).statusCode).toBe(201);

    // A key's list cannot widen the installation's.
    const wide = await createKey({ allowed_from: ['evil.example'] });
    expect((await send(raw({ from: 'a@evil.example' }), wide.token)).statusCode).toBe(403);

    const bad = await t.inject({
      method: 'POST',
      url: '/api/v1/keys',
      payload: { name: 'x', scope: 'send', allowed_from: ['not a domain'] },
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error.code).toBe('validation_failed');
    const listed = (await t.inject({ method: 'GET', url: '/api/v1/keys' })).json().items;
    expect(listed.find((k: { allowed_from: unknown }) => Array.isArray(k.allowed_from))).toBeTruthy();
  });

  it('refuses header injection through the subject or the display name, and unsafe encoded words', async () => {
    const cases: Array<[object, string]> = [
      [raw({ subject: 'Hello\r\nBcc: victim@example.com' }), 'invalid_header_value'],
      [raw({ subject: '=?utf-8?Q?a=0D=0ABcc:_x@example.com?=' }), 'invalid_header_value'],
      [raw({ from: '"Evil\r\nBcc: x@example.com" <a@rgz.bj>' }), 'invalid_header_value'],
      [raw({ from: '=?utf-8?Q?x=0D=0ABcc:_y@example.com?= <a@rgz.bj>' }), 'invalid_header_value'],
      [raw({ from: 'not an address' }), 'invalid_address'],
      [raw({ from: 'a@rgz.bj\r\nBcc: x@example.com' }), 'invalid_address'],
    ];
    const before = await count();
    for (const [payload, code] of cases) {
      const res = await send(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(422);
      expect(res.json().error.code).toBe(code);
    }
    expect(await count()).toBe(before);
  });

  it('answers each malformed raw send with a 4xx naming the problem', async () => {
    const cases: Array<[object, number, string]> = [
      [{ to: 'a@rgz.bj', html: '<p>x</p>' }, 422, 'validation_failed'],
      [{ to: 'a@rgz.bj', subject: 'S' }, 422, 'validation_failed'],
      [{ to: 'a@rgz.bj', subject: 'S', html: '  ', text: '' }, 422, 'validation_failed'],
      [raw({ variables: { a: 1 } }), 422, 'validation_failed'],
      [{ ...raw(), template_key: 'cutover_reminder' }, 422, 'validation_failed'],
      [raw({ class: 'bulk' }), 422, 'validation_failed'],
      [raw({ category: 'Billing Dept' }), 422, 'validation_failed'],
      [raw({ tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }), 400, 'invalid_request'],
      [raw({ tags: ['ok', 'bad\u202etag'] }), 422, 'validation_failed'],
      [raw({ metadata: { blob: 'x'.repeat(5000) } }), 422, 'validation_failed'],
      [raw({ metadata: [1, 2] }), 400, 'invalid_request'],
      [raw({ html: 'a\u0000b' }), 400, 'invalid_request'],
      [raw({ html: 'x'.repeat(2_000_001) }), 422, 'validation_failed'],
      [raw({ html: '<a href="javascript:alert(1)">pay</a>' }), 422, 'unsafe_url'],
      [raw({ html: '<a href=" jav&#x09;ascript:alert(1)">pay</a>' }), 422, 'unsafe_url'],
      [raw({ html: '<img src="data:text/html;base64,PHNjcmlwdD4=">' }), 422, 'unsafe_url'],
    ];
    for (const [payload, status, code] of cases) {
      const res = await send(payload);
      expect(res.statusCode, `${JSON.stringify({ ...payload, html: undefined }).slice(0, 160)} ${res.body}`).toBe(
        status,
      );
      expect(res.json().error.code).toBe(code);
    }
  });

  it('follows the class for rate limits and List-Unsubscribe, as templated mail does', async () => {
    const to = 'subscriber@techconnect.bj';
    const first = await send(raw({ to, class: 'marketing', category: 'newsletter' }));
    expect(first.json().items[0].status).toBe('queued');
    const row = await t.services.db
      .selectFrom('email_messages')
      .select(['headers', 'class', 'category'])
      .where('id', '=', first.json().items[0].id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ class: 'marketing', category: 'newsletter' });
    expect(JSON.parse(row.headers!)['List-Unsubscribe']).toMatch(/\/u\/[^>]+>, <mailto:/);
    // EMAIL_RATE_LIMIT_MARKETING defaults to 1 a day per recipient.
    const second = await send(raw({ to, class: 'marketing' }));
    expect(second.json().items[0].status).toBe('rate_limited');
    // Transactional mail to the same address is not limited, and carries no List-Unsubscribe.
    const tx = await send(raw({ to }));
    expect(tx.json().items[0].status).toBe('queued');
  });

  it('never lets a category chosen by the caller bypass a suppression', async () => {
    const to = 'bounced@techconnect.bj';
    const added = await t.inject({
      method: 'POST',
      url: '/api/v1/email/suppressions',
      payload: { email: to },
    });
    expect(added.statusCode).toBeLessThan(300);
    const res = await send(raw({ to, category: 'incident' }));
    expect(res.json().items[0].status).toBe('suppressed');
  });

  it('replays a raw send under the same Idempotency-Key and refuses another body under it', async () => {
    const headers = { 'idempotency-key': `raw-${backend}` };
    const a = await send(raw(), undefined, headers);
    const b = await send(raw(), undefined, headers);
    expect(a.statusCode).toBe(201);
    expect(b.statusCode).toBe(201);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.json()).toEqual(a.json());
    const c = await send(raw({ subject: 'Another' }), undefined, headers);
    expect(c.statusCode).toBe(409);
  });

  it('resends a raw message from its archive: same sender, content, tags and attachments, a new Message-ID', async () => {
    const res = await send(
      raw({
        from: 'Factures <factures@billing.rgz.bj>',
        text: 'Texte à part.',
        tags: ['invoice'],
        metadata: { n: 1 },
        attachments: [
          { filename: 'facture.pdf', content_type: 'application/pdf', data_base64: pdfBytes().toString('base64') },
        ],
      }),
    );
    expect(res.statusCode).toBe(201);
    const id = res.json().items[0].id;
    // Resent once it went out (a message still queued is not: it would go twice).
    await t.services.db.updateTable('email_messages').set({ status: 'sent' }).where('id', '=', id).execute();
    const again = await t.inject({ method: 'POST', url: `/api/v1/email/messages/${id}/resend` });
    expect(again.statusCode).toBe(201);
    const copy = await detail(t, again.json().id);
    const original = await detail(t, id);
    expect(copy).toMatchObject({
      resent_from_id: id,
      status: 'queued',
      source: 'resend',
      template_key: null,
      from_email: 'factures@billing.rgz.bj',
      from_name: 'Factures',
      tags: ['invoice'],
      metadata: { n: 1 },
    });
    for (const k of ['subject', 'html_content', 'text_content', 'category', 'class'] as const)
      expect(copy[k]).toEqual(original[k]);
    expect(copy.smtp_message_id).not.toBe(original.smtp_message_id);
    expect(copy.attachments).toHaveLength(1);
    const read = await readWithMailparser((await builtMime(t, [copy.id]))[0]!);
    expect(read.from).toEqual([{ name: 'Factures', address: 'factures@billing.rgz.bj' }]);
    expect(read.attachments.map((a) => a.filename)).toEqual(['facture.pdf']);
  });
});

describe('raw sends delivered', () => {
  let t: TestContext;
  let sink: SmtpSink;
  let worker: Worker;
  beforeAll(async () => {
    sink = await SmtpSink.start();
    t = await createTestContext('sqlite', sink.env({ FROM_ALLOWED_DOMAINS: 'shop.example', WORKER_POLL_MS: '20' }));
    worker = startWorker(t.services, smtpTarget(t.services, null));
  });
  afterAll(async () => {
    await worker.stop();
    await t.close();
    await sink.close();
  });

  it('reaches the relay with its own sender on the envelope and in From, Bcc only on the envelope', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: raw({ from: 'Shop <orders@shop.example>', bcc: 'audit@shop.example' }),
    });
    expect(res.statusCode).toBe(201);
    const id = res.json().items[0].id;
    await waitForStatus(t, [id], ['sent']);
    const got = sink.messages.at(-1)!;
    expect(got.envelope.from).toBe('orders@shop.example');
    expect([...got.envelope.to].sort()).toEqual(['audit@shop.example', 'client@techconnect.bj']);
    const read = await readWithMailparser(got.raw);
    expect(read.from).toEqual([{ name: 'Shop', address: 'orders@shop.example' }]);
    expect(got.raw.toString('latin1')).not.toMatch(/^Bcc:/im);
  });
});
