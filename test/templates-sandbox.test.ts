import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { getMessage, newTemplate } from './helpers/templates.js';

/**
 * Published server-side template injection payloads (PayloadsAllTheThings, HackTricks SSTI
 * pages) for Jinja2 and for Liquid/JavaScript engines. None may reach the process, the file
 * system, the environment or prototypes.
 */
const PAYLOADS = [
  "{{ ''.__class__.__mro__[1].__subclasses__() }}",
  "{{ ''.__class__.__mro__[2].__subclasses__()[40]('/etc/passwd').read() }}",
  '{{ self._TemplateReference__context }}',
  '{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen("id").read() }}',
  '{{ config.items() }}',
  '{{ request.application.__globals__.__builtins__.__import__("os").popen("id").read() }}',
  "{{ lipsum.__globals__['os'].popen('id').read() }}",
  "{{ constructor.constructor('return process')() }}",
  "{{ constructor.constructor('return process.env')() }}",
  "{% include '/etc/passwd' %}",
  "{% render '../../package.json' %}",
  "{% layout '/etc/passwd' %}",
  "{% liquid include '/etc/passwd' %}",
  '{{ this }}',
  '{{ this.constructor }}',
  '{{ variables.__proto__ }}',
  '{{ a.constructor }}',
  "{{ a['constructor']['constructor'] }}",
  '{{ a.__proto__.toString }}',
  '{{ process.env }}',
  '{{ global.process.mainModule }}',
  "{% assign x = 'constructor' %}{{ a[x][x] }}",
  '{{ 7*7 }}',
];

/** Things that would show that a payload reached something it must not. */
const LEAKS = [
  /root:.*:0:0/,
  /"name":\s*"postier"/,
  /\[native code\]/,
  /function\s*\w*\s*\(/,
  /\[object (Object|process)\]/i,
  /uid=\d+/,
  /node_modules/,
  /POSTIER_/,
];
const leaked = (s: string | null | undefined) => LEAKS.filter((re) => re.test(s ?? '')).map(String);

describe.each(backends)('template sandbox on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  const send = (body: object) =>
    t.inject({ method: 'POST', url: '/api/v1/email/send', payload: { to: 'user@example.com', ...body } });

  it.each(PAYLOADS)('renders %s inert when it arrives as a variable', async (payload) => {
    const res = await send({
      template_key: 'support_ticket_created',
      variables: { ticket_number: payload, title: payload, priority: 'P1', support_link: 'https://s.example/1' },
    });
    expect(res.statusCode).toBe(201);
    const msg = await getMessage(t, res.json().items[0].id);
    // Printed as text, never evaluated: the text part holds it verbatim, the HTML escaped.
    expect(msg.text_content).toContain(`Titre: ${payload}`);
    expect(msg.html_content).toContain(
      payload
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/"/g, '&#34;')
        .replace(/'/g, '&#39;'),
    );
    expect(msg.text_content).not.toContain('Titre: 49');
  });

  it('refuses prototype keys in variables', async () => {
    for (const raw of ['{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}']) {
      const res = await t.inject({
        method: 'POST',
        url: '/api/v1/email/send',
        headers: { 'content-type': 'application/json' },
        payload: `{"to":"a@example.com","template_key":"support_ticket_created","variables":${raw}}`,
      });
      expect(res.statusCode, raw).toBe(400);
    }
  });

  it.each(PAYLOADS)('refuses %s in a template edit, or renders it harmless', async (payload) => {
    const key = `sb_${Math.abs(hash(payload))}`;
    const html = `<p>{{ name }} ${payload}</p>`;
    // The live preview renders without any declaration check: the sandbox alone must hold.
    const p = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates/preview',
      payload: {
        subject: 's',
        html_content: html,
        text_content: payload,
        layout: null,
        variables: { name: 'N', a: 'A' },
      },
    });
    expect(p.statusCode).toBe(200);
    expect(leaked(p.body)).toEqual([]);

    // Saved with every variable it reads declared, so only the sandbox can stop it.
    const used: string[] = p.json().variables?.used ?? ['name'];
    const created = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate(key, { html_content: html, text_content: payload, required_variables: used }),
    });
    if (p.json().errors.length > 0) {
      expect(created.statusCode).toBe(422);
      expect(created.json().error.code).toBe('template_error');
      return;
    }
    expect(created.statusCode).toBe(201);
    const variables = Object.fromEntries(used.map((v) => [v, 'A']));
    const r = await t.inject({ method: 'POST', url: `/api/v1/email/templates/${key}/test`, payload: { variables } });
    const sent = await send({ template_key: key, variables });
    for (const res of [r, sent]) {
      expect([200, 201, 422]).toContain(res.statusCode);
      expect(leaked(res.body)).toEqual([]);
    }
    if (sent.statusCode === 201)
      expect(leaked(JSON.stringify(await getMessage(t, sent.json().items[0].id)))).toEqual([]);
  });

  it('reads own properties only: nothing inherited from a prototype is reachable', async () => {
    const html =
      '<p>[{{ info.__proto__ }}|{{ info.constructor }}|{{ info.toString }}|{{ info.hasOwnProperty }}|{{ info.valueOf }}|{{ text.constructor }}]</p>';
    const created = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('sb_proto', {
        subject: 'Proto',
        html_content: html,
        text_content: null,
        required_variables: ['info', 'text'],
      }),
    });
    expect(created.statusCode, created.body).toBe(201);
    const variables = { info: { k: 'v' }, text: 'abc' };
    // Sending is strict: an inherited property reads as undefined, which is an error, not a value.
    const sent = await send({ template_key: 'sb_proto', variables });
    expect(sent.statusCode).toBe(422);
    expect(sent.json().error.code).toBe('missing_variables');
    const r = await t.inject({ method: 'POST', url: '/api/v1/email/templates/sb_proto/test', payload: { variables } });
    expect(r.json().html).toBe('<p>[|||||]</p>');
  });

  it('refuses the file-loading tags at save with their line and column', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('sb_include', { html_content: "<p>{{ name }}</p>\n  {% include '/etc/passwd' %}" }),
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'template_error', details: { part: 'html', line: 2, column: 3 } });
    expect(res.json().error.message).toContain('disabled');
  });

  const LOOP = '{% for i in (1..1000000) %}{% for j in (1..1000000) %}x{% endfor %}{% endfor %}';

  it('refuses a template that loops a million times at save, quickly', async () => {
    const started = Date.now();
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('sb_loop', { html_content: `<p>{{ name }}</p>${LOOP}`, sample_variables: { name: 'x' } }),
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('render_error');
    expect(res.json().error.message).toContain('limit');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('answers 422 quickly when such a template is sent or test-rendered', async () => {
    // Without sample variables the save cannot try a render: the send is where it stops.
    const created = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('sb_loop_send', { html_content: `<p>{{ name }}</p>${LOOP}` }),
    });
    expect(created.statusCode).toBe(201);
    for (const res of [
      await send({ template_key: 'sb_loop_send', variables: { name: 'x' } }),
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/templates/sb_loop_send/test',
        payload: { variables: { name: 'x' } },
      }),
    ]) {
      expect(res.statusCode).toBe(422);
      expect(res.json().error.code).toBe('render_error');
    }
  });

  it('refuses a huge output with 422', async () => {
    const big = `{% for i in (1..3000) %}${'y'.repeat(1000)}{% endfor %}`;
    const created = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('sb_big', { html_content: `<p>{{ name }}</p>${big}`, text_content: null }),
    });
    expect(created.statusCode).toBe(201);
    const res = await send({ template_key: 'sb_big', variables: { name: 'x' } });
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'render_error', message: expect.stringContaining('exceeds') });
    const growing = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates/preview',
      payload: {
        subject: 's',
        html_content:
          "{% assign s = 'xxxxxxxxxx' %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}{{ s }}",
        layout: null,
      },
    });
    expect(growing.json().errors[0].message).toMatch(/limit/);
  });
});

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}
