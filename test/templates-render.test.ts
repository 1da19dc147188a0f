import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wire } from '../src/app/wiring.js';
import { withBodies } from '../src/content/index.js';
import { compileTemplate, renderTemplate } from '../src/templates/render.js';
import { createLogger } from '../src/platform/log.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { countMessages, getMessage, newTemplate } from './helpers/templates.js';

const welcome = {
  reseller_name: 'Tech Connect SA',
  validation_link: 'https://admin-rgz.duckdns.org',
  estimated_duration: '7-12 jours',
};

describe.each(backends)('template rendering on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend, {
      BRAND_NAME: 'RGZ Access',
      BRAND_LOGO_URL: 'https://rgz.bj/logo.png',
      BRAND_SUPPORT_EMAIL: 'support@rgz.bj',
    });
  });
  afterAll(() => t.close());

  const test = (key: string, body: object) =>
    t.inject({ method: 'POST', url: `/api/v1/email/templates/${key}/test`, payload: body });
  const preview = (body: object) => t.inject({ method: 'POST', url: '/api/v1/email/templates/preview', payload: body });
  const send = (body: object) =>
    t.inject({ method: 'POST', url: '/api/v1/email/send', payload: { to: 'user@example.com', ...body } });

  describe('test render', () => {
    it('returns subject, HTML and text without storing anything', async () => {
      const before = await countMessages(t);
      const res = await test('onboarding_welcome', { variables: welcome });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({
        template_key: 'onboarding_welcome',
        version: 1,
        locale: 'fr',
        subject: 'Bienvenue sur RGZ Access!',
        missing_variables: [],
      });
      expect(body.html).toContain('Tech Connect SA');
      expect(body.text).toContain('https://admin-rgz.duckdns.org/dashboard');
      expect(await countMessages(t)).toBe(before);
    });

    it('reports missing variables and still renders, showing each as its tag', async () => {
      const res = await test('onboarding_welcome', { variables: { reseller_name: 'ACME' } });
      expect(res.statusCode).toBe(200);
      expect(res.json().missing_variables).toEqual(['estimated_duration', 'validation_link']);
      expect(res.json().html).toContain('ACME');
      expect(res.json().text).toContain('{{ validation_link }}/dashboard');
    });

    it('uses the sample variables when the request gives none', async () => {
      const res = await test('instance_provisioned', {});
      expect(res.json().missing_variables).toEqual([]);
      expect(res.json().subject).toBe('Votre instance techconnect-erp est prête');
    });

    it('renders a given version and locale', async () => {
      await t.inject({ method: 'POST', url: '/api/v1/email/templates', payload: newTemplate('r_versions') });
      await t.inject({
        method: 'PUT',
        url: '/api/v1/email/templates/r_versions',
        payload: { text_content: 'v2 {{ name }}' },
      });
      expect((await test('r_versions', { variables: { name: 'A' }, version: 1 })).json()).toMatchObject({
        version: 1,
        text: 'Hello A, version one.',
      });
      expect((await test('r_versions', { variables: { name: 'A' } })).json()).toMatchObject({
        version: 2,
        text: 'v2 A',
      });
      expect((await test('instance_suspended', { locale: 'en-GB' })).json().locale).toBe('en');
    });

    it('sends through the normal pipeline with `to`, marked as a test', async () => {
      const res = await test('onboarding_welcome', { variables: welcome, to: 'editor@rgz.bj', locale: 'en' });
      expect(res.statusCode).toBe(200);
      const [item] = res.json().messages;
      expect(item).toMatchObject({ to: 'editor@rgz.bj', status: 'queued' });
      // The archived body as readers see it (stored compressed in email_bodies).
      const [row] = await withBodies(t.services.db, [
        await t.services.db
          .selectFrom('email_messages')
          .selectAll()
          .where('id', '=', item.id)
          .executeTakeFirstOrThrow(),
      ]);
      expect([row!.is_test, row!.template_key, row!.template_version, row!.locale, row!.subject]).toEqual([
        1,
        'onboarding_welcome',
        1,
        'en',
        res.json().subject,
      ]);
      expect(row!.html_content).toBe(res.json().html);
      // Sending refuses what the preview forgave.
      const incomplete = await test('onboarding_welcome', { variables: { reseller_name: 'x' }, to: 'editor@rgz.bj' });
      expect(incomplete.statusCode).toBe(422);
      expect(incomplete.json().error.code).toBe('missing_variables');
    });

    it('is for admins only', async () => {
      const { token } = await t.services.apiKeys.create('sender', 'send', 'test');
      expect(
        (await t.inject({ method: 'POST', url: '/api/v1/email/templates/onboarding_welcome/test', payload: {}, token }))
          .statusCode,
      ).toBe(403);
    });
  });

  describe('live preview of unsaved content', () => {
    it('renders with the layout and reports the variable check', async () => {
      const res = await preview({
        subject: 'Hi {{ name }}',
        html_content: '<p>Hi {{ name }} {{ extra }}</p>',
        variables: { name: 'Ana' },
        required_variables: ['name', 'gone'],
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.errors).toEqual([]);
      expect(body.subject).toBe('Hi Ana');
      expect(body.html).toContain('<span class="brand-name"');
      expect(body.missing_variables).toEqual(['extra', 'gone']);
      expect(body.variables).toEqual({ used: ['extra', 'name'], undeclared: ['extra'], unused: ['gone'] });
    });

    it('lists the syntax error of every part with line and column', async () => {
      const res = await preview({
        subject: 'Hi {{ name',
        html_content: '<p>\n{% for x in xs %}\n</p>',
        text_content: 'ok {{ name }}',
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ subject: null, html: null, text: null });
      expect(res.json().errors).toEqual([
        { part: 'subject', line: 1, column: 4, message: expect.stringContaining('not closed') },
        { part: 'html', line: 2, column: 1, message: expect.stringContaining('not closed') },
      ]);
    });

    it('reports an unknown layout and a render that exceeds the limits as errors', async () => {
      const layout = await preview({ subject: 's', html_content: '<p>x</p>', layout: 'nope' });
      expect(layout.json().errors[0].message).toContain('Unknown layout');
      const slow = await preview({
        subject: 's',
        html_content: '{% for i in (1..1000000) %}{% for j in (1..1000000) %}x{% endfor %}{% endfor %}',
        layout: null,
      });
      expect(slow.json().errors[0]).toMatchObject({ part: 'html', message: expect.stringContaining('limit') });
    });
  });

  describe('layouts and email-ready HTML', () => {
    it('lists the layouts', async () => {
      expect((await t.inject({ method: 'GET', url: '/api/v1/email/layouts' })).json()).toEqual({
        items: ['default'],
        total: 1,
      });
    });

    it('wraps a body in the default layout with brand name, logo and support address, CSS inlined', async () => {
      const r = (
        await test('support_ticket_created', {
          variables: { ticket_number: '7', title: 'T', priority: 'P1', support_link: 'https://s.example/7' },
        })
      ).json();
      expect(r.html).toMatch(/<img class="header-logo" src="https:\/\/rgz\.bj\/logo\.png" alt="RGZ Access"/);
      expect(r.html).toContain('mailto:support@rgz.bj');
      // juice moved the <style> rules onto the elements; media queries stay in <style>.
      expect(r.html).toMatch(/<td class="header"[^>]*style="[^"]*background-color: #0f172a/);
      expect(r.html).toContain('@media only screen');
      expect(r.text).toContain('RGZ Access · support@rgz.bj');
    });

    it('renders the body alone when the layout is null', async () => {
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/templates',
        payload: newTemplate('r_bare', { html_content: '<style>p { color: red; }</style><p>Bare {{ name }}</p>' }),
      });
      const r = (await test('r_bare', { variables: { name: 'A' } })).json();
      expect(r.html).toBe('<p style="color: red;">Bare A</p>');
      expect(r.html).not.toContain('brand-name');
    });

    it('generates the text part from the HTML, links kept, when the template has none', async () => {
      await t.inject({
        method: 'POST',
        url: '/api/v1/email/templates',
        payload: newTemplate('r_notext', {
          text_content: null,
          required_variables: ['name', 'link'],
          html_content: '<h1>Hello {{ name }}</h1><p>Open <a href="{{ link }}">your portal</a>.</p>',
        }),
      });
      const res = await send({
        template_key: 'r_notext',
        variables: { name: 'Ana', link: 'https://portal.example/a?b=1' },
      });
      const msg = await getMessage(t, res.json().items[0].id);
      expect(msg.text_content).toContain('HELLO ANA');
      expect(msg.text_content).toContain('your portal [https://portal.example/a?b=1]');
      expect(msg.text_content).not.toContain('<');
    });
  });

  describe('locales', () => {
    it.each([
      [undefined, 'fr', 'Bienvenue sur RGZ Access!'],
      ['fr', 'fr', 'Bienvenue sur RGZ Access!'],
      ['en', 'en', 'Welcome to RGZ Access!'],
      ['en-GB', 'en', 'Welcome to RGZ Access!'],
      ['de', 'fr', 'Bienvenue sur RGZ Access!'],
    ])('locale %s renders the %s variant', async (locale, expected, subject) => {
      const res = await send({ template_key: 'onboarding_welcome', variables: welcome, ...(locale ? { locale } : {}) });
      expect(res.statusCode).toBe(201);
      const msg = await getMessage(t, res.json().items[0].id);
      expect([msg.locale, msg.subject]).toEqual([expected, subject]);
      // The layout follows the locale too.
      expect(msg.html_content).toContain(
        expected === 'en' ? 'This email was sent by' : 'Cet e-mail vous a été envoyé par',
      );
    });

    it('ships English variants of the lifecycle templates and onboarding_welcome', async () => {
      for (const key of [
        'instance_provisioned',
        'instance_suspended',
        'instance_reactivated',
        'instance_terminated',
        'onboarding_welcome',
      ]) {
        expect(
          Object.keys((await t.inject({ method: 'GET', url: `/api/v1/email/templates/${key}` })).json().locales).sort(),
          key,
        ).toEqual(['en', 'fr']);
      }
    });
  });

  describe('no stale cache', () => {
    it('sends the new content right after an edit, from the same process', async () => {
      await t.inject({ method: 'POST', url: '/api/v1/email/templates', payload: newTemplate('r_cache') });
      const first = await send({ template_key: 'r_cache', variables: { name: 'A' } });
      expect((await getMessage(t, first.json().items[0].id)).text_content).toBe('Hello A, version one.');
      await t.inject({
        method: 'PUT',
        url: '/api/v1/email/templates/r_cache',
        payload: { text_content: 'Edited {{ name }}' },
      });
      const second = await send({ template_key: 'r_cache', variables: { name: 'A' } });
      expect((await getMessage(t, second.json().items[0].id)).text_content).toBe('Edited A');
      await t.inject({ method: 'POST', url: '/api/v1/email/templates/r_cache/activate', payload: { version: 1 } });
      const third = await send({ template_key: 'r_cache', variables: { name: 'A' } });
      expect((await getMessage(t, third.json().items[0].id)).text_content).toBe('Hello A, version one.');
    });

    it('sends the new content at once from another process sharing the database', async () => {
      const other = await wire(t.config, createLogger('silent'), { migrate: false, schema: t.schema });
      try {
        await t.inject({ method: 'POST', url: '/api/v1/email/templates', payload: newTemplate('r_shared') });
        // The other process renders (and caches) version 1 …
        const r1 = await other.send.send(
          { to: 'a@example.com', template_key: 'r_shared', variables: { name: 'A' } },
          { principal: null },
        );
        // … then this one edits …
        await t.inject({
          method: 'PUT',
          url: '/api/v1/email/templates/r_shared',
          payload: { text_content: 'Edited {{ name }}' },
        });
        // … and the other's very next send renders the edit.
        const r2 = await other.send.send(
          { to: 'a@example.com', template_key: 'r_shared', variables: { name: 'A' } },
          { principal: null },
        );
        expect((await getMessage(t, r1.items[0]!.id)).text_content).toBe('Hello A, version one.');
        expect((await getMessage(t, r2.items[0]!.id)).text_content).toBe('Edited A');
      } finally {
        await other.close();
      }
    });
  });
});

describe('built-in clock variables', () => {
  const compiled = compileTemplate(
    { subject: '{{ today }}', html_content: '<p>{{ now }}</p>', text_content: '{{ now }}' },
    undefined,
  );
  const brand = { name: 'RGZ', logo_url: '', support_email: 'support@rgz.bj', website_url: '' };
  const at = (iso: string, timeZone = 'UTC', locale = 'fr') =>
    renderTemplate(compiled, {}, { locale, timeZone, brand, now: new Date(iso) });

  it('follow the clock to the minute, in the time zone and language asked for (formatting is kept per minute)', () => {
    expect(at('2026-11-23T10:15:05Z')).toMatchObject({ subject: '23 novembre 2026', text: '23 novembre 2026 à 10:15' });
    expect(at('2026-11-23T10:15:59Z').text).toBe('23 novembre 2026 à 10:15');
    expect(at('2026-11-23T10:16:00Z').text).toBe('23 novembre 2026 à 10:16');
    expect(at('2026-11-23T23:59:30Z', 'Africa/Porto-Novo')).toMatchObject({
      subject: '24 novembre 2026',
      text: '24 novembre 2026 à 00:59',
    });
    expect(at('2026-11-23T23:59:30Z', 'UTC', 'en').subject).toBe('November 23, 2026');
    // Back in time (a test clock, a pinned `now`): not a stale value.
    expect(at('2025-01-02T08:00:00Z').subject).toBe('2 janvier 2025');
  });
});
