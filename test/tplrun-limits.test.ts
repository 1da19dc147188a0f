import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../src/platform/errors.js';
import { readLayouts } from '../src/templates/layouts.js';
import { LAYOUTS_DIR } from '../src/templates/paths.js';
import { compileTemplate, type RenderContext, renderingThreadCpu, renderTemplate } from '../src/templates/render.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { getMessage, newTemplate } from './helpers/templates.js';

/**
 * Runaway renders (src/templates/render.ts): stopped by the first limit they pass, once, and
 * answered 422 render_error with the limit named in the details; legitimate large templates still
 * render. Each case failed before the fix: the output was measured only after the render (a loop
 * printing a value ran to the time limit), a range of 19,000,000 passed the memory limit (0.8 GB),
 * and a render stopped by the time limit was always rendered a second time.
 */

const ctx: RenderContext = {
  locale: 'en',
  timeZone: 'UTC',
  brand: { name: 'B', logo_url: 'https://b.example/l.png', support_email: 's@b.example', website_url: '' },
};

/** A variable whose reads are counted (LiquidJS reads an own getter like any own property). */
function probe(): { value: { n: string }; reads: () => number } {
  let reads = 0;
  const value = {};
  Object.defineProperty(value, 'n', {
    enumerable: true,
    get: () => {
      reads++;
      return 'p';
    },
  });
  return { value: value as { n: string }, reads: () => reads };
}

function refusal(fn: () => unknown): { code: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    return { code: e.code, details: e.details as Record<string, unknown> };
  }
  throw new Error('rendered without an error');
}

const render = (html: string, variables: Record<string, unknown>, text: string | null = null) =>
  renderTemplate(compileTemplate({ subject: 'S', html_content: html, text_content: text }, undefined), variables, ctx);

const xs = Array.from({ length: 1000 }, (_, i) => i);

describe('render limits', () => {
  it('renders a runaway loop once: no second attempt of a render that computed to the time limit', () => {
    const p = probe();
    const html = `{{ p.n }}{% for a in xs %}{% for b in xs %}{% for c in xs %}{% endfor %}{% endfor %}{% endfor %}`;
    const r = refusal(() => render(html, { p: p.value, xs }));
    expect(r).toMatchObject({ code: 'render_error', details: { part: 'html', limit: 'render_time' } });
    expect(p.reads()).toBe(1);
  });

  it('stops a render as soon as its output passes the limit', () => {
    const p = probe();
    // 1,000 x 1,000 writes of 1,000 characters: 1e9 characters if nothing stopped it.
    const s = 'y'.repeat(999);
    const html = '{% for a in xs %}{% for b in xs %}{{ p.n | append: s | raw }}{% endfor %}{% endfor %}';
    const r = refusal(() => render(html, { p: p.value, xs, s }));
    expect(r).toMatchObject({ code: 'render_error', details: { part: 'html', limit: 'output_chars' } });
    // 2,000 writes fill the 2,000,000 characters; the next one is refused.
    expect(p.reads()).toBe(2001);

    // The text part (no escaping) and a capture printed whole are counted too.
    const q = probe();
    const text = '{% for a in xs %}{% for b in xs %}{{ q.n }}{{ s }}{% endfor %}{% endfor %}';
    const t = refusal(() => render('<p>x</p>', { q: q.value, xs, s }, text));
    expect(t).toMatchObject({ code: 'render_error', details: { part: 'text', limit: 'output_chars' } });
    expect(q.reads()).toBe(2001);
    const doubled = refusal(() =>
      render(
        'x',
        {},
        '{% assign s = "xxxxxxxxxx" %}{% for i in (1..24) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}{{ s }}',
      ),
    );
    expect(doubled).toMatchObject({ code: 'render_error', details: { part: 'text', limit: 'output_chars' } });
  });

  it('refuses a range of millions before building it', () => {
    const p = probe();
    const html = '{% for i in (1..count) %}{{ p.n }}{% endfor %}';
    const r = refusal(() => render(html, { p: p.value, count: 19_000_000 }));
    expect(r).toMatchObject({ code: 'render_error', details: { part: 'html', limit: 'memory' } });
    expect(p.reads()).toBe(0);
    // 2,500,000 is still a lot: a range of 3,000,000 is refused too.
    expect(refusal(() => render(html, { p: p.value, count: 3_000_000 })).details.limit).toBe('memory');
    expect(p.reads()).toBe(0);
  });

  it('refuses a value that cannot fit escaped before escaping it, on both renderers', () => {
    // Escaping 20,000,000 `<` took 2 s and 0.9 GB; a template printing it 30 times escaped it until
    // the string was too long for V8 (3 GB of RSS, 20 s) before the output was measured.
    const a = '<'.repeat(20_000_000);
    const peakKb = process.resourceUsage().maxRSS;
    for (const fastPath of [true, false]) {
      const compiled = compileTemplate(
        { subject: 'S', html_content: '<p>{{ a }}</p>'.repeat(30), text_content: 'x' },
        undefined,
        { fastPath },
      );
      expect(compiled.fast.html !== null).toBe(fastPath);
      const r = refusal(() => renderTemplate(compiled, { a }, ctx));
      expect(r).toMatchObject({ code: 'render_error', details: { part: 'html', limit: 'output_chars' } });
    }
    // No escaped copy was made: the process's peak memory grew by far less than one (80 MB).
    expect(process.resourceUsage().maxRSS - peakKb).toBeLessThan(60_000);
    // Just under the limit once escaped: rendered, on both.
    const b = `${'<'.repeat(499_000)}x`;
    for (const fastPath of [true, false]) {
      const compiled = compileTemplate({ subject: 'S', html_content: '{{ b }}', text_content: 'x' }, undefined, {
        fastPath,
      });
      expect(renderTemplate(compiled, { b }, ctx).html).toBe(`${'&lt;'.repeat(499_000)}x`);
    }
  });

  it('escapes the HTML part as LiquidJS escape does, for every kind of value', () => {
    const values = [
      `<a href="x">'Tom' & "Jerry"</a>`,
      '&amp; already',
      42,
      -0.5,
      true,
      false,
      null,
      ['<b>', ['&', 3], null, "'"],
      [],
      '𝒳 <émoji>',
    ];
    const html = values.map((_, i) => `[{{ v${i} }}|{{ v${i} | escape | raw }}]`).join('\n');
    const variables = Object.fromEntries(values.map((v, i) => [`v${i}`, v]));
    const compiled = compileTemplate({ subject: 'S', html_content: html, text_content: 'x' }, undefined, {
      fastPath: false,
    });
    const out = renderTemplate(compiled, variables, { ...ctx, strict: false }).html.split('\n');
    expect(out).toHaveLength(values.length);
    for (const line of out) {
      const [own, liquids] = line.slice(1, -1).split('|');
      expect(own).toBe(liquids);
    }
    expect(out[0]).toBe(
      '[&lt;a href=&#34;x&#34;&gt;&#39;Tom&#39; &amp; &#34;Jerry&#34;&lt;/a&gt;|&lt;a href=&#34;x&#34;&gt;&#39;Tom&#39; &amp; &#34;Jerry&#34;&lt;/a&gt;]',
    );
  });

  it('still renders a value of almost the largest output, escaped and through a filter', () => {
    const body = `<line> & "quotes"\n`.repeat(52_000); // 988,000 characters, 1,872,000 escaped
    const r = render('<div>{{ body }}</div><div>{{ body | newline_to_br | size }}</div>', { body });
    expect(r.html.length).toBeGreaterThan(1_800_000);
    expect(r.html.length).toBeLessThan(2_000_000);
    expect(r.html).toContain('&lt;line&gt; &amp; &#34;quotes&#34;\n&lt;line&gt;');
  });
});

describe('CSS that walks siblings', () => {
  // css-select (juice's matcher) tries every earlier sibling for `~`, nested per `~`, and counts
  // siblings for :nth-*, *-of-type and :only-child: within the selectors x elements bound, these
  // held the event loop 9 s, 18 s and 29 s (at save, at every preview, at the first send).
  const compile = (html: string, layout?: string) =>
    compileTemplate(
      { subject: 's', html_content: html, text_content: 'x' },
      layout ? readLayouts(LAYOUTS_DIR).get(layout) : undefined,
    );

  it('refuses it at compile when siblings times elements is too much, as a template_error', () => {
    const ps = (n: number) => `<div>${'<p>x</p>'.repeat(n)}</div>`;
    for (const html of [
      `<style>.q ~ p ~ p ~ p ~ p{color:red}</style>${ps(100)}`,
      `<style>${Array.from({ length: 20 }, (_, i) => `.x${i} ~ p{color:red}`).join('')}</style>${ps(4900)}`,
      `<style>${Array.from({ length: 20 }, (_, i) => `p:nth-last-of-type(${i + 2}n)`).join(',')}{color:red}</style>${ps(4900)}`,
      `<style>p:not(.q ~ p), p:is(.a ~ p ~ p, .b){color:red}</style>${ps(1000)}`,
    ]) {
      const r = refusal(() => compile(html));
      expect(r).toMatchObject({ code: 'template_error', details: { part: 'html' } });
      expect(r.details.error).toMatch(/^too much CSS to inline: selectors with ~/);
    }
  });

  it('inlines the usual ones: zebra rows, a sibling after a heading, a first item, [attr~=word]', () => {
    const rows = '<tr><td>a</td><td>b</td></tr>\n'.repeat(40);
    const compiled = compile(
      `<style>tr:nth-child(even) td{background:#eee} h1 ~ p{margin:0} li:first-of-type{color:red} ` +
        `[class~=k] b{color:blue}</style><h1>T</h1><p>a</p><table>${rows}</table>` +
        `<ul>${'<li>x</li>'.repeat(30)}</ul><div class="j k"><b>B</b></div>`,
    );
    const html = renderTemplate(compiled, {}, ctx).html;
    // In the default layout (its own rows and CSS) too.
    expect(() =>
      compile(`<style>tr:nth-child(even) > td{color:red}</style><table>${rows}</table>`, 'default'),
    ).not.toThrow();
    expect(html.match(/<td style="background: #eee;">/g)).toHaveLength(40);
    expect(html).toContain('<p style="margin: 0;">a</p>');
    expect(html.match(/<li style="color: red;">/g)).toHaveLength(1);
    expect(html).toContain('<b style="color: blue;">B</b>');
  });
});

/** A large invoice: hundreds of lines, loops, filters, a sorted copy, in the default layout. */
const INVOICE_HTML = `<h1>Invoice {{ invoice.number }} for {{ customer.name }}</h1>
<table>{% assign sorted = lines | sort: "position" %}{% for line in sorted %}
<tr class="{% cycle 'odd', 'even' %}"><td>{{ forloop.index }}</td><td>{{ line.description }}</td>
<td>{{ line.sku | upcase }}</td><td>{{ line.quantity }}</td><td>{{ line.unit_price | divided_by: 100.0 | round: 2 }}</td>
<td>{{ line.quantity | times: line.unit_price | divided_by: 100.0 | round: 2 | prepend: "$" }}</td>
<td>{{ line.tags | join: ", " }}</td></tr>{% endfor %}</table>
<p>Total: {{ lines | map: "unit_price" | sum | divided_by: 100.0 }}</p><p>{{ notes | newline_to_br }}</p>`;
const INVOICE_TEXT = `{% for line in lines %}{{ forloop.index }}. {{ line.description | truncate: 60 }} x{{ line.quantity }}
{% endfor %}`;
const invoiceLines = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    position: n - i,
    description: `Service item ${i}: a fairly long description <with> & markup`,
    sku: `sku-${i}`,
    quantity: (i % 7) + 1,
    unit_price: 1999 + i,
    tags: ['a', 'b', 'c'],
  }));

describe('a large invoice', () => {
  it('renders whole in the default layout', () => {
    const compiled = compileTemplate(
      { subject: 'Invoice {{ invoice.number }}', html_content: INVOICE_HTML, text_content: INVOICE_TEXT },
      readLayouts(LAYOUTS_DIR).get('default'),
    );
    const r = renderTemplate(
      compiled,
      { invoice: { number: 'INV-7' }, customer: { name: 'ACME' }, lines: invoiceLines(300), notes: 'a\nb' },
      ctx,
    );
    expect(r.subject).toBe('Invoice INV-7');
    expect(r.html.match(/<tr class="(odd|even)"/g)).toHaveLength(300);
    expect(r.html).toContain('Service item 299: a fairly long description &lt;with&gt; &amp; markup');
    expect(r.text.split('\n').filter((l) => /^\d+\. Service item/.test(l))).toHaveLength(300);
  });
});

describe('the CPU a render stopped by the time limit is judged by', () => {
  const ms = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
  const hasThreadCpu = typeof (process as { threadCpuUsage?: unknown }).threadCpuUsage === 'function';

  it(hasThreadCpu
    ? "is the rendering thread's own: a busy thread beside it (delivery, submission) does not count"
    : "is the process's on a Node without process.threadCpuUsage: a busy thread beside it counts", async () => {
    const [own, all] = [renderingThreadCpu(), process.cpuUsage()];
    // A fixed amount of work (not a duration): its CPU time does not shrink when the machine is busy.
    const sibling = new Worker('let x = 0; for (let i = 0; i < 4e8; i++) x += i % 7; if (x < 0) throw 0;', {
      eval: true,
    });
    await once(sibling, 'exit');
    // The setup: the thread beside the test's computed.
    expect(ms(process.cpuUsage(all))).toBeGreaterThan(150);
    if (hasThreadCpu) expect(ms(renderingThreadCpu(own))).toBeLessThan(100);
    else expect(ms(renderingThreadCpu(own))).toBeGreaterThan(150);
  }, 30_000);
});

describe.each(backends)('runaway renders through the API on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
    for (const [key, html_content, extra] of [
      ['run_range', '<p>{% for i in (1..count) %}{{ i }}{% endfor %}</p>', { required_variables: ['count'] }],
      [
        'run_nested',
        '{% for a in items %}{% for b in items %}{% for c in items %}<p>{{ c }}</p>{% endfor %}{% endfor %}{% endfor %}',
        { required_variables: ['items'] },
      ],
      [
        'run_invoice',
        INVOICE_HTML,
        {
          required_variables: ['invoice', 'customer', 'lines', 'notes'],
          sensitive_variables: ['notes'],
          layout: 'default',
          text_content: INVOICE_TEXT,
        },
      ],
    ] as const) {
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/email/templates',
        payload: newTemplate(key, { html_content, text_content: null, subject: 'S', ...extra }),
      });
      expect(res.statusCode, res.body).toBe(201);
    }
  });
  afterAll(() => t.close());

  const send = (body: object) =>
    t.inject({ method: 'POST', url: '/api/v1/email/send', payload: { to: 'user@example.com', ...body } });

  it('answers a caller-sized range or nested loops over caller arrays with a 422 naming the limit', async () => {
    const range = await send({ template_key: 'run_range', variables: { count: 19_000_000 } });
    expect(range.statusCode, range.body).toBe(422);
    expect(range.json().error).toMatchObject({ code: 'render_error', details: { part: 'html', limit: 'memory' } });

    const items = Array.from({ length: 300 }, (_, i) => `item ${i} ${'x'.repeat(200)}`);
    const nested = await send({ template_key: 'run_nested', variables: { items } });
    expect(nested.statusCode, nested.body).toBe(422);
    expect(nested.json().error).toMatchObject({
      code: 'render_error',
      details: { part: 'html', limit: 'output_chars' },
    });

    const tested = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates/run_nested/test',
      payload: { variables: { items } },
    });
    expect(tested.statusCode, tested.body).toBe(422);
    expect(tested.json().error).toMatchObject({ code: 'render_error', details: { limit: 'output_chars' } });

    const preview = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates/preview',
      payload: {
        subject: 's',
        layout: null,
        html_content: '{% for i in (1..count) %}x{% endfor %}',
        variables: { count: 19_000_000 },
      },
    });
    expect(preview.statusCode).toBe(200);
    expect(preview.json().errors).toEqual([{ part: 'html', message: expect.stringContaining('too much memory') }]);

    // Small sizes render.
    const ok = await send({ template_key: 'run_range', variables: { count: 3 } });
    expect(ok.statusCode, ok.body).toBe(201);
    expect((await getMessage(t, ok.json().items[0].id)).html_content).toBe('<p>123</p>');
  });

  it('sends a large invoice with a sensitive variable (rendered twice)', async () => {
    const res = await send({
      template_key: 'run_invoice',
      variables: {
        invoice: { number: 'INV-9' },
        customer: { name: 'ACME' },
        lines: invoiceLines(200),
        notes: 'secret',
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    const msg = await getMessage(t, res.json().items[0].id);
    expect(msg.html_content.match(/<tr class="(odd|even)"/g)).toHaveLength(200);
    expect(msg.html_content).not.toContain('secret');
  });
});
