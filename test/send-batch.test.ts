import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detail } from './helpers/archive.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { incidentExample, invoiceExample } from './helpers/fixtures.js';
import { newTemplate } from './helpers/templates.js';

const rawMessage = (to: string, over: Record<string, unknown> = {}) => ({
  to,
  subject: `Notice for ${to}`,
  text: 'Hello',
  ...over,
});

describe.each(backends)('POST /api/v1/email/batch on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, { FROM_ALLOWED_DOMAINS: 'shop.example' });
  });
  afterAll(() => t.close());

  const batch = (payload: unknown, token?: string) =>
    t.inject({ method: 'POST', url: '/api/v1/email/batch', payload: payload as object, token });
  const stored = async (ids: string[]) =>
    ids.length === 0
      ? 0
      : Number(
          (
            await t.services.db
              .selectFrom('email_messages')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('id', 'in', ids)
              .executeTakeFirstOrThrow()
          ).n,
        );

  it('answers an entry per message in request order; a bad message gets its own error and the others are stored', async () => {
    const res = await batch({
      messages: [
        invoiceExample(),
        rawMessage('a@techconnect.bj', { from: 'Shop <orders@shop.example>', tags: ['t'] }),
        rawMessage('b@techconnect.bj', { from: 'ceo@evil.example' }),
        { to: 'c@techconnect.bj', template_key: 'no_such_template' },
        { to: 'not-an-address', subject: 'x', text: 'y' },
        { to: 'd@techconnect.bj', subject: 'x', text: 'y', unknown_field: 1 },
        'not an object',
        incidentExample(),
      ],
    });
    expect(res.statusCode).toBe(200);
    const { items } = res.json();
    expect(items.map((i: { index: number }) => i.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(items[0].items).toEqual([{ id: expect.any(String), to: 'reseller@techconnect.bj', status: 'queued' }]);
    expect(items[1].items).toEqual([{ id: expect.any(String), to: 'a@techconnect.bj', status: 'queued' }]);
    expect(items[2].error).toMatchObject({ code: 'from_not_allowed', details: { from: 'ceo@evil.example' } });
    expect(items[3].error.code).toBe('template_not_found');
    expect(items[4].error.code).toBe('invalid_address');
    expect(items[5].error).toMatchObject({ code: 'invalid_request' });
    expect(items[5].error.message).toContain('messages[5]');
    expect(items[6].error.code).toBe('invalid_request');
    expect(items[7].items.map((i: { to: string }) => i.to)).toEqual(['noc@rgz.bj', 'reseller@techconnect.bj']);

    const ids = items.flatMap((i: { items?: Array<{ id: string }> }) => (i.items ?? []).map((x) => x.id));
    expect(ids).toHaveLength(4);
    expect(await stored(ids)).toBe(4);
    const m = await detail(t, items[1].items[0].id);
    expect(m).toMatchObject({ source: 'batch', from_email: 'orders@shop.example', tags: ['t'], template_key: null });
    expect(m.events.map((e: { type: string }) => e.type)).toEqual(['queued']);
  });

  it('refuses a malformed envelope as a whole with 400', async () => {
    const tooMany = Array.from({ length: 501 }, (_, i) => rawMessage(`r${i}@techconnect.bj`));
    for (const payload of [[], { messages: [] }, { messages: tooMany }, { messages: {} }, { messages: [], x: 1 }]) {
      const res = await batch(payload);
      expect(res.statusCode, JSON.stringify(payload).slice(0, 80)).toBe(400);
      expect(res.json().error.code).toBe('invalid_request');
    }
    expect((await batch(undefined)).statusCode).toBe(400);
  });

  it('accepts 500 messages in one request, every one stored before the answer', async () => {
    const messages = Array.from({ length: 500 }, (_, i) => rawMessage(`bulk${i}@techconnect.bj`));
    const res = await batch({ messages });
    expect(res.statusCode).toBe(200);
    const items = res.json().items as Array<{ index: number; items: Array<{ id: string; status: string }> }>;
    expect(items).toHaveLength(500);
    expect(items.every((it, i) => it.index === i && it.items[0]!.status === 'queued')).toBe(true);
    expect(await stored(items.map((i) => i.items[0]!.id))).toBe(500);
  });

  it('replays an item under its idempotency key, shares keys with the Idempotency-Key header, and refuses another body', async () => {
    const key = `batch-${backend}-1`;
    const m = rawMessage('idem@techconnect.bj');
    const first = (await batch({ messages: [{ ...m, idempotency_key: key }] })).json().items[0];
    expect(first.items[0].status).toBe('queued');

    const again = await batch({
      messages: [
        { ...m, idempotency_key: key },
        { ...m, subject: 'changed', idempotency_key: key },
        rawMessage('fresh@techconnect.bj'),
      ],
    });
    const items = again.json().items;
    expect(items[0].items).toEqual(first.items);
    expect(items[1].error.code).toBe('idempotency_conflict');
    expect(items[2].items[0].to).toBe('fresh@techconnect.bj');

    // The same key as a single send's header: the same stored answer.
    const single = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: m,
      headers: { 'idempotency-key': key },
    });
    expect(single.statusCode).toBe(201);
    expect(single.headers['idempotent-replayed']).toBe('true');
    expect(single.json().items).toEqual(first.items);
  });

  it('stores only one of two messages of one batch that share a key, and answers both with its result', async () => {
    const key = `batch-${backend}-twin`;
    const m = { ...rawMessage('twin@techconnect.bj'), idempotency_key: key };
    const res = await batch({ messages: [m, m, rawMessage('other@techconnect.bj')] });
    const items = res.json().items;
    expect(items[0].items).toEqual(items[1].items);
    expect(items[2].items[0].status).toBe('queued');
    const n = await t.services.db
      .selectFrom('email_messages')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('recipient_email', '=', 'twin@techconnect.bj')
      .executeTakeFirstOrThrow();
    expect(Number(n.n)).toBe(1);
  });

  it('applies admission per message: a suppressed recipient is reported, the rest queued', async () => {
    await t.inject({ method: 'POST', url: '/api/v1/email/suppressions', payload: { email: 'gone@techconnect.bj' } });
    const res = await batch({
      messages: [rawMessage('gone@techconnect.bj'), rawMessage('here@techconnect.bj')],
    });
    expect(res.json().items.map((i: { items: Array<{ status: string }> }) => i.items[0]!.status)).toEqual([
      'suppressed',
      'queued',
    ]);
  });

  it('counts messages of the same commit against a rate limit: two marketing messages to one address, one admitted', async () => {
    const to = 'limited@techconnect.bj';
    const res = await batch({
      messages: [rawMessage(to, { class: 'marketing' }), rawMessage(to, { class: 'marketing' }), rawMessage(to)],
    });
    expect(res.json().items.map((i: { items: Array<{ status: string }> }) => i.items[0]!.status)).toEqual([
      'queued',
      'rate_limited',
      'queued',
    ]);
  });

  it('needs a key: 401 without one', async () => {
    const res = await batch({ messages: [rawMessage('x@techconnect.bj')] }, null as unknown as string);
    expect(res.statusCode).toBe(401);
  });

  it('stops rendering a template after two of its items ran out of render time; other items go on', async () => {
    // Loops over sizes the caller controls: each render takes the whole render limit.
    const created = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('batch_runaway', {
        required_variables: ['xs'],
        subject: 'S',
        html_content: '<p>{% for a in xs %}{% for b in xs %}{% for c in xs %}{% endfor %}{% endfor %}{% endfor %}</p>',
        text_content: null,
      }),
    });
    expect(created.statusCode, created.body).toBe(201);
    const xs = Array.from({ length: 1000 }, (_, i) => i);
    const runaway = (n: number) => ({ to: `r${n}@techconnect.bj`, template_key: 'batch_runaway', variables: { xs } });
    const res = await batch({ messages: [runaway(0), runaway(1), incidentExample(), runaway(2), runaway(3)] });
    expect(res.statusCode).toBe(200);
    const { items } = res.json();
    for (const i of [0, 1])
      expect(items[i].error).toMatchObject({ code: 'render_error', details: { limit: 'render_time', part: 'html' } });
    expect(items[2].items.map((m: { status: string }) => m.status)).toEqual(['queued', 'queued']);
    for (const i of [3, 4])
      expect(items[i].error).toMatchObject({
        code: 'render_error',
        details: { limit: 'render_time', template_key: 'batch_runaway', rendered: false },
      });
  });
});
