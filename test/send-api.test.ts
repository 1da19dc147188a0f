import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample, invoiceExample, pdfBytes, pngBytes } from './helpers/fixtures.js';

describe.each(backends)('send API on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  const send = (payload: unknown, headers: Record<string, string> = {}) =>
    t.inject({ method: 'POST', url: '/api/v1/email/send', payload: payload as object, headers });

  it('accepts the specification invoice example with its PDF and archives the message', async () => {
    const res = await send(invoiceExample());
    expect(res.statusCode).toBe(201);
    const { items } = res.json();
    expect(items).toEqual([{ id: expect.any(String), to: 'reseller@techconnect.bj', status: 'queued' }]);

    const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${items[0].id}` })).json();
    expect(msg.subject).toBe('Facture RGZ — février 2026');
    expect(msg.text_content).toContain('Montant: 450000 FCFA');
    expect(msg.text_content).toContain('Numéro de facture: INV-2026-0001');
    // invoice_date is not in the example: the template defaults it to the sending date.
    const today = new Intl.DateTimeFormat('fr', { dateStyle: 'long', timeZone: 'UTC' }).format(new Date());
    expect(msg.text_content).toContain(`Date: ${today}`);
    expect(msg.html_content).toContain('href="https://admin-rgz.duckdns.org/invoices/latest"');
    expect(msg.template_key).toBe('billing_invoice_monthly');
    expect(msg.template_version).toBe(1);
    expect(msg.locale).toBe('fr');
    expect(msg.category).toBe('billing');
    expect(msg.max_attempts).toBe(3);
    expect(msg.smtp_message_id).toMatch(/^<[0-9a-f-]{36}@rgz\.bj>$/);
    expect(msg.events.map((e: { type: string }) => e.type)).toEqual(['queued']);
    expect(msg.attachments).toHaveLength(1);
    expect(msg.attachments[0]).toMatchObject({
      filename: 'invoice_2026-02.pdf',
      content_type: 'application/pdf',
      size_bytes: pdfBytes().length,
    });
  });

  it('returns attachment bytes exactly as sent', async () => {
    const res = await send(invoiceExample());
    const id = res.json().items[0].id;
    const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json();
    const dl = await t.inject({
      method: 'GET',
      url: `/api/v1/email/messages/${id}/attachments/${msg.attachments[0].id}`,
    });
    expect(dl.statusCode).toBe(200);
    expect(dl.headers['content-type']).toBe('application/pdf');
    expect(dl.headers['content-disposition']).toContain("filename*=UTF-8''invoice_2026-02.pdf");
    expect(Buffer.compare(dl.rawPayload, pdfBytes())).toBe(0);
    expect(msg.attachments[0].sha256).toBe(createHash('sha256').update(pdfBytes()).digest('hex'));
  });

  it('fans a comma-separated `to` out to one message per recipient, sent as curl does without a content type', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      // curl -d without -H sends this content type; the spec's examples rely on it.
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: JSON.stringify(incidentExample()),
    });
    expect(res.statusCode).toBe(201);
    const items = res.json().items;
    expect(items.map((i: { to: string }) => i.to)).toEqual(['noc@rgz.bj', 'reseller@techconnect.bj']);
    expect(new Set(items.map((i: { id: string }) => i.id)).size).toBe(2);
    for (const item of items) {
      const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${item.id}` })).json();
      expect(msg.subject).toBe('⚠️ ALERTE CRITIQUE RGZ — INC-2026-000847');
      expect(msg.events).toHaveLength(1);
      expect(msg.max_attempts).toBe(5);
    }
  });

  it('accepts `to` as an array, drops duplicate recipients, and keeps cc, bcc and reply_to', async () => {
    const res = await send({
      ...incidentExample(),
      to: ['a@example.com', 'b@example.com', 'A@EXAMPLE.COM'],
      cc: 'c@example.com',
      bcc: ['d@example.com'],
      reply_to: 'ops@rgz.bj',
    });
    expect(res.statusCode).toBe(201);
    const items = res.json().items;
    expect(items).toHaveLength(2);
    const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${items[0].id}` })).json();
    expect(msg.cc).toEqual(['c@example.com']);
    expect(msg.bcc).toEqual(['d@example.com']);
    expect(msg.reply_to).toBe('ops@rgz.bj');
  });

  it('keeps French accents and emoji intact in subject and body', async () => {
    const res = await send({
      to: 'user@example.com',
      template_key: 'support_ticket_created',
      variables: {
        ticket_number: '4821',
        title: 'Débit très lent à Cotonou 🐢 — « urgent »',
        priority: 'Élevée',
        support_link: 'https://support.rgz.bj/t/4821',
      },
    });
    expect(res.statusCode).toBe(201);
    const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${res.json().items[0].id}` })).json();
    expect(msg.subject).toBe('Ticket support #4821 créé');
    expect(msg.text_content).toContain('Débit très lent à Cotonou 🐢 — « urgent »');
    expect(msg.html_content).toContain('Débit très lent à Cotonou 🐢 — « urgent »');
    expect(msg.text_content).toContain('Sévérité: Élevée');
  });

  it('escapes variables in HTML but not in the text part', async () => {
    const res = await send({
      to: 'user@example.com',
      template_key: 'support_ticket_created',
      variables: {
        ticket_number: '1',
        title: '<script>alert("x")</script> & co',
        priority: 'P1',
        support_link: 'https://s.example/1',
      },
    });
    const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${res.json().items[0].id}` })).json();
    expect(msg.html_content).not.toContain('<script>');
    expect(msg.html_content).toContain('&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co');
    expect(msg.text_content).toContain('<script>alert("x")</script> & co');
  });

  it('refuses missing variables with 422, naming each one', async () => {
    const { variables } = incidentExample();
    const { title: _t, priority: _p, ...partial } = variables;
    const res = await send({ ...incidentExample(), variables: partial });
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'missing_variables', details: { missing: ['priority', 'title'] } });
  });

  it('treats a null variable as missing, never as an empty string', async () => {
    const res = await send({ ...incidentExample(), variables: { ...incidentExample().variables, title: null } });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.details.missing).toEqual(['title']);
  });

  it('answers 404 for an unknown or inactive template', async () => {
    const unknown = await send({ ...incidentExample(), template_key: 'no_such_template' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('template_not_found');

    await t.services.db
      .updateTable('email_templates')
      .set({ is_active: 0 })
      .where('key', '=', 'rma_confirmation')
      .execute();
    try {
      const inactive = await send({
        to: 'a@example.com',
        template_key: 'rma_confirmation',
        variables: { rma_number: '1', serial_number: '2', status: '3', link_tracking: 'https://x.example' },
      });
      expect(inactive.statusCode).toBe(404);
    } finally {
      await t.services.db
        .updateTable('email_templates')
        .set({ is_active: 1 })
        .where('key', '=', 'rma_confirmation')
        .execute();
    }
  });

  it.each([
    ['not an address', 'bob'],
    ['header injection', 'a@example.com\r\nBcc: victim@example.com'],
    ['display name', 'Bob <bob@example.com>'],
    ['no tld', 'bob@localhost'],
    ['empty', ''],
    ['a trailing CRLF', 'bob@example.com\r\n'],
    ['a bidirectional override', 'bob@example.com\u202e'],
  ])('refuses an invalid recipient (%s) with 422', async (_name, to) => {
    const res = await send({ ...incidentExample(), to });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('invalid_address');
  });

  it('refuses a recipient holding a lone surrogate with 400, as any string of a body', async () => {
    const res = await send({ ...incidentExample(), to: 'bob\ud83d@example.com' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_request');
  });

  it('refuses an invalid cc, bcc or reply_to with 422', async () => {
    for (const extra of [
      { cc: 'x' },
      { bcc: ['ok@example.com', 'bad@'] },
      { reply_to: 'a@b.c\nX: y' },
      { reply_to: 'ops@rgz.bj\r\n' },
    ]) {
      const res = await send({ ...incidentExample(), ...extra });
      expect(res.statusCode, JSON.stringify(extra)).toBe(422);
      expect(res.json().error.code).toBe('invalid_address');
    }
    const two = await send({ ...incidentExample(), reply_to: 'a@example.com,b@example.com' });
    expect(two.statusCode).toBe(422);
    expect(two.json().error.code).toBe('too_many_recipients');
  });

  describe('attachments', () => {
    const withAttachment = (a: Record<string, string>) => ({ ...invoiceExample(), attachments: [a] });

    it('accepts png, json and csv when allowed', async () => {
      const res = await send({
        ...invoiceExample(),
        attachments: [
          { filename: 'logo.png', content_type: 'image/png', data_base64: pngBytes().toString('base64') },
          {
            filename: 'data.json',
            content_type: 'application/json',
            data_base64: Buffer.from('{"a":1}').toString('base64'),
          },
          {
            filename: 'rapport été.csv',
            content_type: 'text/csv; charset=utf-8',
            data_base64: Buffer.from('site;débit\nA;10\n').toString('base64'),
          },
        ],
      });
      expect(res.statusCode).toBe(201);
      const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${res.json().items[0].id}` })).json();
      expect(msg.attachments.map((a: { filename: string }) => a.filename)).toEqual([
        'logo.png',
        'data.json',
        'rapport été.csv',
      ]);
    });

    it('accepts an empty csv file, archived as zero bytes and downloaded as zero bytes', async () => {
      const res = await send(withAttachment({ filename: 'incidents.csv', content_type: 'text/csv', data_base64: '' }));
      expect(res.statusCode).toBe(201);
      const id = res.json().items[0].id as string;
      const msg = (await t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}` })).json();
      expect(msg.attachments).toMatchObject([
        {
          filename: 'incidents.csv',
          content_type: 'text/csv',
          size_bytes: 0,
          sha256: createHash('sha256').update(Buffer.alloc(0)).digest('hex'),
        },
      ]);
      const download = await t.inject({
        method: 'GET',
        url: `/api/v1/email/messages/${id}/attachments/${msg.attachments[0].id}`,
      });
      expect(download.statusCode).toBe(200);
      expect(download.rawPayload.length).toBe(0);
    });

    it.each([
      [
        'an empty PDF (only a text type may be empty)',
        { filename: 'a.pdf', content_type: 'application/pdf', data_base64: '' },
        'is empty',
      ],
      [
        'an empty JSON file (not valid JSON)',
        { filename: 'a.json', content_type: 'application/json', data_base64: ' \r\n' },
        'not valid JSON',
      ],
      [
        'a type outside the allowed list',
        { filename: 'a.gif', content_type: 'image/gif', data_base64: Buffer.from('GIF89a....').toString('base64') },
        'not allowed',
      ],
      [
        'bad base64',
        { filename: 'a.pdf', content_type: 'application/pdf', data_base64: 'JVBERi0xLjQKJeLjz9MNCi...' },
        'not valid base64',
      ],
      [
        'PNG bytes declared as PDF',
        { filename: 'a.pdf', content_type: 'application/pdf', data_base64: pngBytes().toString('base64') },
        'image/png',
      ],
      [
        'text declared as PDF',
        { filename: 'a.pdf', content_type: 'application/pdf', data_base64: Buffer.from('hello').toString('base64') },
        'not a recognised file',
      ],
      [
        'PDF declared as JSON',
        { filename: 'a.json', content_type: 'application/json', data_base64: pdfBytes().toString('base64') },
        'application/pdf',
      ],
      [
        'invalid JSON',
        { filename: 'a.json', content_type: 'application/json', data_base64: Buffer.from('{nope').toString('base64') },
        'not valid JSON',
      ],
      [
        'a mismatched extension',
        { filename: 'a.exe', content_type: 'application/pdf', data_base64: pdfBytes().toString('base64') },
        'extension',
      ],
      [
        'path traversal in the filename',
        {
          filename: '../../etc/passwd.pdf',
          content_type: 'application/pdf',
          data_base64: pdfBytes().toString('base64'),
        },
        'path separators',
      ],
      [
        'CRLF in the filename',
        {
          filename: 'a\r\nContent-Type: text/html.pdf',
          content_type: 'application/pdf',
          data_base64: pdfBytes().toString('base64'),
        },
        'control characters',
      ],
    ])('refuses %s with 422', async (_name, attachment, message) => {
      const res = await send(withAttachment(attachment));
      expect(res.statusCode).toBe(422);
      expect(res.json().error.code).toBe('invalid_attachment');
      expect(res.json().error.message).toContain(message);
    });

    it('refuses an attachment over EMAIL_MAX_ATTACHMENT_SIZE_MB', async () => {
      const small = await createTestContext(backend, { EMAIL_MAX_ATTACHMENT_SIZE_MB: '0.001' });
      try {
        const big = Buffer.concat([pdfBytes(), Buffer.alloc(2000, 0x20)]);
        const res = await small.inject({
          method: 'POST',
          url: '/api/v1/email/send',
          payload: withAttachment({
            filename: 'big.pdf',
            content_type: 'application/pdf',
            data_base64: big.toString('base64'),
          }),
        });
        expect(res.statusCode).toBe(422);
        expect(res.json().error.message).toContain('larger than');
      } finally {
        await small.close();
      }
    });

    it('refuses attachments on a template that does not allow them', async () => {
      const res = await send({
        ...incidentExample(),
        attachments: [
          { filename: 'a.pdf', content_type: 'application/pdf', data_base64: pdfBytes().toString('base64') },
        ],
      });
      expect(res.statusCode).toBe(422);
      expect(res.json().error.code).toBe('attachments_not_allowed');
    });

    it('stores nothing from a refused request', async () => {
      const before = await t.services.db
        .selectFrom('email_messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      await send(
        withAttachment({
          filename: 'a.pdf',
          content_type: 'application/pdf',
          data_base64: pngBytes().toString('base64'),
        }),
      );
      const after = await t.services.db
        .selectFrom('email_messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(after.n)).toBe(Number(before.n));
    });
  });

  describe('listing', () => {
    it('filters by recipient, status and template, and pages with a cursor', async () => {
      const to = `pager-${backend}@example.com`;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await send({ ...incidentExample(), to })).json().items[0].id);

      const page1 = (await t.inject({ method: 'GET', url: `/api/v1/email/messages?to=${to}&limit=2` })).json();
      expect(page1.total).toBe(5);
      expect(page1.items.map((m: { id: string }) => m.id)).toEqual([ids[4], ids[3]]);
      expect(page1.items[0]).toMatchObject({
        to,
        status: 'queued',
        template_key: 'incident_alert_critical',
        sent_at: null,
      });
      const page2 = (
        await t.inject({ method: 'GET', url: `/api/v1/email/messages?to=${to}&limit=2&cursor=${page1.next_cursor}` })
      ).json();
      expect(page2.items.map((m: { id: string }) => m.id)).toEqual([ids[2], ids[1]]);
      const page3 = (
        await t.inject({ method: 'GET', url: `/api/v1/email/messages?to=${to}&limit=2&cursor=${page2.next_cursor}` })
      ).json();
      expect(page3.items.map((m: { id: string }) => m.id)).toEqual([ids[0]]);
      expect(page3.next_cursor).toBeNull();

      const none = (await t.inject({ method: 'GET', url: `/api/v1/email/messages?to=${to}&status=sent` })).json();
      expect(none).toEqual({ items: [], total: 0, total_capped: false, next_cursor: null });
      const byTemplate = (
        await t.inject({ method: 'GET', url: `/api/v1/email/messages?to=${to}&template_key=incident_alert_critical` })
      ).json();
      expect(byTemplate.total).toBe(5);
    });

    it('refuses bad filters and cursors with 400', async () => {
      for (const q of ['status=nope', 'limit=0', 'limit=abc', 'cursor=garbage', 'since=yesterday']) {
        const res = await t.inject({ method: 'GET', url: `/api/v1/email/messages?${q}` });
        expect(res.statusCode, q).toBe(400);
        expect(res.json().error.code).toBe('invalid_request');
      }
    });

    it('answers 404 for an unknown message or attachment', async () => {
      const res = await t.inject({ method: 'GET', url: '/api/v1/email/messages/0190a0a0-0000-7000-8000-000000000000' });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('message_not_found');
      const bad = await t.inject({ method: 'GET', url: '/api/v1/email/messages/not-a-uuid' });
      expect(bad.statusCode).toBe(400);
    });
  });

  it('stores every accepted message before answering, under concurrency', async () => {
    const to = `burst-${backend}@example.com`;
    const replies = await Promise.all(Array.from({ length: 60 }, () => send({ ...incidentExample(), to })));
    expect(replies.every((r) => r.statusCode === 201)).toBe(true);
    const ids = replies.map((r) => r.json().items[0].id);
    const stored = await t.services.db
      .selectFrom('email_messages')
      .select('id')
      .where('recipient_email', '=', to)
      .execute();
    expect(new Set(stored.map((r) => r.id))).toEqual(new Set(ids));
    const events = await t.services.db
      .selectFrom('email_events')
      .select('message_id')
      .where('message_id', 'in', ids)
      .where('type', '=', 'queued')
      .execute();
    expect(events).toHaveLength(60);
  });
});
