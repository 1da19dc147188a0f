import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitLiquid } from '../src/templates/liquid-spans.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { getMessage, newTemplate } from './helpers/templates.js';

/**
 * Outside review of the template limits (templates/render.ts, validate.ts): inputs that gave a
 * 500 or held the event loop for seconds to minutes. Each case here failed (500, or a timeout)
 * before its fix.
 */

describe('splitLiquid', () => {
  it('splits exactly as the lazy regex it replaces did', () => {
    const alphabet = ['{', '}', '%', '-', 'x', ' ', '\n', '{{', '}}', '{%', '%}'];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let n = 0; n < 20_000; n++) {
      let s = '';
      for (let i = next() % 16; i > 0; i--) s += alphabet[next() % alphabet.length];
      expect(splitLiquid(s), JSON.stringify(s)).toEqual(s.split(/(\{%-?[\s\S]*?-?%\}|\{\{-?[\s\S]*?-?\}\})/));
    }
  });
});

describe.each(backends)('template limits on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
    const raw = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('lim_raw', { html_content: '<p>{{ name | raw }}</p>', text_content: null }),
    });
    expect(raw.statusCode, raw.body).toBe(201);
  });
  afterAll(() => t.close());

  const send = (body: object) =>
    t.inject({ method: 'POST', url: '/api/v1/email/send', payload: { to: 'user@example.com', ...body } });
  const preview = (body: object) =>
    t.inject({
      method: 'POST',
      url: '/api/v1/email/templates/preview',
      payload: { subject: 's', layout: null, ...body },
    });

  // The lazy regexes that found Liquid delimiters (ours, and juice's code blocks) retried from
  // every unclosed `{{`: quadratic, minutes of a blocked event loop (the test timed out).
  it('answers a body of unclosed delimiters with a 422 at save, and renders them in a raw block', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('lim_braces', { html_content: '{{'.repeat(250_000) }),
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('template_error');

    const p = await preview({ html_content: `{% raw %}${'{{'.repeat(200_000)}{% endraw %}`, text_content: 'x' });
    expect(p.statusCode).toBe(200);
    expect(p.json().errors).toEqual([]);
    expect(p.json().html).toBe('{{'.repeat(200_000));

    // juice's own fences for `<% %>` put each block back with a pass over the whole document.
    const ejs = await preview({ html_content: `<p>{{ name }}</p>${'<% %>'.repeat(50_000)}`, variables: { name: 'N' } });
    expect(ejs.statusCode).toBe(200);
    expect(ejs.json().errors).toEqual([]);
    expect(ejs.json().html).toBe(`<p>N</p>${'<% %>'.repeat(50_000)}`);
  });

  // html-to-text recursed per level: a few thousand nested elements overflowed the stack (500).
  it('makes the text part of deeply nested HTML (a raw variable, a raw send, a loop)', async () => {
    const deep = `${'<div>'.repeat(20_000)}deep`;
    const sent = await send({ template_key: 'lim_raw', variables: { name: deep } });
    expect(sent.statusCode, sent.body).toBe(201);
    expect((await getMessage(t, sent.json().items[0].id)).text_content).toContain('…');

    const rawSend = await send({ subject: 'Nested', html: `<p>top</p>${deep}` });
    expect(rawSend.statusCode, rawSend.body).toBe(201);
    expect((await getMessage(t, rawSend.json().items[0].id)).text_content).toMatch(/^top\n\n…/);

    const p = await preview({ html_content: '<p>a</p>{% for i in (1..20000) %}<div>{% endfor %}b' });
    expect(p.statusCode).toBe(200);
    expect(p.json().errors).toEqual([]);
    expect(p.json().text).toMatch(/^a\n\n…/);
  });

  // One long word built from 190,000 inline pieces: html-to-text re-split it at every piece
  // (35 s of one send, on a send key, with any template that prints a variable raw).
  it('reads at most 100,000 characters of HTML for the text part, and says it stopped', async () => {
    const sent = await send({ template_key: 'lim_raw', variables: { name: '<td>x</td>'.repeat(190_000) } });
    expect(sent.statusCode, sent.body).toBe(201);
    const msg = await getMessage(t, sent.json().items[0].id);
    expect(msg.html_content.length).toBeGreaterThan(1_900_000);
    expect(msg.text_content.endsWith('\n\n[…]')).toBe(true);
    expect(msg.text_content.length).toBeLessThan(20_000);

    // Under the limit, the whole text, unmarked.
    const small = await send({ template_key: 'lim_raw', variables: { name: '<b>bold</b> words' } });
    expect((await getMessage(t, small.json().items[0].id)).text_content).toBe('bold words');
  });

  // juice writes the document back recursively (a few thousand nested elements: a 500), and
  // matches every selector against every element on the event loop: 3,000 rules on 3,000
  // elements took two minutes (the test timed out), nested :has() on 100 elements 16 s.
  it('refuses HTML and CSS that juice cannot inline in bounded time, as a template_error', async () => {
    const nested = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('lim_nested', { html_content: `<p>{{ name }}</p>${'<div>'.repeat(6000)}` }),
    });
    expect(nested.statusCode, nested.body).toBe(422);
    expect(nested.json().error).toMatchObject({ code: 'template_error', details: { part: 'html' } });

    const rules = Array.from({ length: 3000 }, (_, i) => `.c${i} p{color:red}`).join('');
    const cases: Array<[string, string]> = [
      [`<style>${rules}</style>${'<div class="c1"><p>x</p></div>'.repeat(3000)}`, 'too much CSS'],
      [`<style>*:has(*:has(*:has(*:has(b)))){color:red}</style>${'<div>'.repeat(100)}x`, ':has()'],
      [`${'<div>'.repeat(6000)}x`, 'cannot be inlined'],
    ];
    for (const [html_content, message] of cases) {
      const p = await preview({ html_content, text_content: 'x' });
      expect(p.statusCode).toBe(200);
      expect(p.json().errors).toEqual([
        expect.objectContaining({ part: 'html', message: expect.stringContaining(message) }),
      ]);
    }
    // The bundled layout and an ordinary stylesheet are far below the bound.
    const ok = await preview({
      layout: 'default',
      html_content: `<style>.a{color:red} td, th{padding:2px}</style><table>${'<tr><td class="a">x</td></tr>'.repeat(200)}</table>`,
    });
    expect(ok.json().errors).toEqual([]);
    expect(ok.json().html).toContain('<td class="a" style="padding: 2px; color: red;">x</td>');
  });

  // Locale names admit `en_US` and subtags Intl refuses: `today` made Intl throw, a 500.
  it('renders today and now in every locale a template may have', async () => {
    const created = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('lim_locale', {
        default_locale: 'en_US',
        sample_variables: { name: 'N' },
        subject: 'On {{ today }}',
        html_content: '<p>{{ name }} {{ now }} {{ locale }}</p>',
        text_content: null,
        locales: { 'en-1a': { subject: 'On {{ today }}', html_content: '<p>{{ name }} {{ today }} {{ locale }}</p>' } },
      }),
    });
    expect(created.statusCode, created.body).toBe(201);
    for (const locale of ['en_US', 'en-1a']) {
      const sent = await send({ template_key: 'lim_locale', locale, variables: { name: 'N' } });
      expect(sent.statusCode, sent.body).toBe(201);
      const msg = await getMessage(t, sent.json().items[0].id);
      expect(msg.subject).toMatch(/^On \w+ \d+, \d{4}$/);
      expect(msg.html_content).toContain(locale);
    }
    const p = await preview({ html_content: '<p>{{ today }}</p>', locale: 'en-a1b2' });
    expect(p.statusCode).toBe(200);
    expect(p.json().errors).toEqual([]);
  });
});
