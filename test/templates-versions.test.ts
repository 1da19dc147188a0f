import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { defaultTemplates } from './helpers/fixtures.js';
import { adminKey, getMessage, newTemplate, sendKey } from './helpers/templates.js';

describe.each(backends)('template versions on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  const create = (body: object, token?: string) =>
    t.inject({ method: 'POST', url: '/api/v1/email/templates', payload: body, token });
  const edit = (key: string, body: object, token?: string) =>
    t.inject({ method: 'PUT', url: `/api/v1/email/templates/${key}`, payload: body, token });
  const send = (body: object) =>
    t.inject({ method: 'POST', url: '/api/v1/email/send', payload: { to: 'user@example.com', ...body } });

  it('creates a template at version 1, recording the API key that did it', async () => {
    const alice = await adminKey(t, 'alice');
    const res = await create(newTemplate('v_create'), alice.token);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      key: 'v_create',
      version: 1,
      active_version: 1,
      is_active: true,
      created_by: alice.id,
      updated_by: alice.id,
      version_created_by: alice.id,
    });
    expect(res.json().saved).toEqual({ key: 'v_create', action: 'created', version: 1, metadata_updated: false });
    expect((await create(newTemplate('v_create'))).statusCode).toBe(409);
  });

  it('turns an edit into version N+1, made active, while version N stays as it was', async () => {
    await create(newTemplate('v_edit'));
    const bob = await adminKey(t, 'bob');
    const res = await edit(
      'v_edit',
      { html_content: '<p>Hello {{ name }}, version two.</p>', comment: 'wording', name: 'Renamed' },
      bob.token,
    );
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      version: 2,
      active_version: 2,
      name: 'Renamed',
      updated_by: bob.id,
      html_content: '<p>Hello {{ name }}, version two.</p>',
    });
    // The text part was not in the edit: it carries over unchanged.
    expect(res.json().text_content).toBe('Hello {{ name }}, version one.');

    const v1 = (await t.inject({ method: 'GET', url: '/api/v1/email/templates/v_edit/versions/1' })).json();
    expect(v1).toMatchObject({ version: 1, active_version: 2, html_content: '<p>Hello {{ name }}, version one.</p>' });
    const list = (await t.inject({ method: 'GET', url: '/api/v1/email/templates/v_edit/versions' })).json();
    expect(
      list.items.map((v: { version: number; active: boolean; comment: string }) => [v.version, v.active, v.comment]),
    ).toEqual([
      [2, true, 'wording'],
      [1, false, 'initial version'],
    ]);
    expect(list.items[0].created_by).toBe(bob.id);
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/templates/v_edit/versions/9' })).statusCode).toBe(404);
  });

  it('does not create a version when nothing versioned changed', async () => {
    await create(newTemplate('v_same'));
    const same = await edit('v_same', { subject: 'Hello {{ name }}' });
    expect(same.json().saved).toMatchObject({ action: 'unchanged', version: 1, metadata_updated: false });
    const meta = await edit('v_same', { priority: 'urgent', max_attempts: 7 });
    expect(meta.json().saved).toMatchObject({ action: 'unchanged', version: 1, metadata_updated: true });
    expect(meta.json()).toMatchObject({ priority: 'urgent', max_attempts: 7 });
  });

  it('edits and adds locales, and removes one with null', async () => {
    await create(newTemplate('v_locales'));
    const added = await edit('v_locales', {
      locales: { en: { subject: 'Hi {{ name }}', html_content: '<p>Hi {{ name }}</p>' } },
    });
    expect(added.statusCode).toBe(200);
    expect(Object.keys(added.json().locales).sort()).toEqual(['en', 'fr']);
    expect(added.json().locales.en.text_content).toBeNull();
    const partialNew = await edit('v_locales', { locales: { de: { subject: 'Hallo' } } });
    expect(partialNew.statusCode).toBe(422);
    const removed = await edit('v_locales', { locales: { en: null } });
    expect(Object.keys(removed.json().locales)).toEqual(['fr']);
    expect(removed.json().version).toBe(3);
    const noDefault = await edit('v_locales', { locales: { fr: null } });
    expect(noDefault.statusCode).toBe(422);
    expect(noDefault.json().error.code).toBe('validation_failed');
  });

  it('refuses a Liquid syntax error with 422 naming the locale, part, line and column', async () => {
    await create(newTemplate('v_syntax'));
    const res = await edit('v_syntax', { html_content: '<p>Hello {{ name }}</p>\n<p>\n  {% if name %}unclosed\n</p>' });
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({
      code: 'template_error',
      details: { locale: 'fr', part: 'html', line: 3, column: 3 },
    });
    expect(res.json().error.message).toContain('line:3, col:3');
    const subject = await edit('v_syntax', { subject: 'Hello {{ name' });
    expect(subject.json().error.details).toMatchObject({ part: 'subject', line: 1, column: 7 });
    // Nothing was stored by the refused edits.
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/templates/v_syntax/versions' })).json().total).toBe(1);
  });

  it('checks required_variables against the variables the template really reads', async () => {
    await create(newTemplate('v_vars'));
    const res = await edit('v_vars', {
      html_content: '<p>{{ name }} {{ ticket }} {{ brand.name }} {{ today }}</p>',
      required_variables: ['name', 'unused_one'],
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({
      code: 'validation_failed',
      details: { undeclared: ['ticket'], unused: ['unused_one'] },
    });

    // A variable read only through `default` is declared optional.
    const ok = await edit('v_vars', {
      html_content: '<p>{{ name }} {{ ticket | default: "n/a" }} {% for l in lines %}{{ l }}{% endfor %}</p>',
      required_variables: ['name', 'lines'],
      optional_variables: ['ticket'],
    });
    expect(ok.statusCode).toBe(200);
    const sent = await send({ template_key: 'v_vars', variables: { name: 'Ana', lines: ['a', 'b'] } });
    expect(sent.statusCode).toBe(201);
    expect((await getMessage(t, sent.json().items[0].id)).html_content).toContain('Ana n/a ab');

    const sensitiveUndeclared = await edit('v_vars', { sensitive_variables: ['secret'] });
    expect(sensitiveUndeclared.statusCode).toBe(422);
  });

  it('sends the active version unless the request pins one, and records key, version and locale', async () => {
    await create(newTemplate('v_pin'));
    await edit('v_pin', {
      html_content: '<p>Hello {{ name }}, version two.</p>',
      text_content: 'Hello {{ name }}, version two.',
    });
    const active = await send({ template_key: 'v_pin', variables: { name: 'Ana' } });
    const pinned = await send({ template_key: 'v_pin', variables: { name: 'Ana' }, template_version: 1 });
    const a = await getMessage(t, active.json().items[0].id);
    const p = await getMessage(t, pinned.json().items[0].id);
    expect([a.template_key, a.template_version, a.locale, a.text_content]).toEqual([
      'v_pin',
      2,
      'fr',
      'Hello Ana, version two.',
    ]);
    expect([p.template_version, p.text_content]).toEqual([1, 'Hello Ana, version one.']);
    const missing = await send({ template_key: 'v_pin', variables: { name: 'Ana' }, template_version: 5 });
    expect(missing.statusCode).toBe(404);
  });

  it('rolls back and forward with activate, and deactivates without losing history', async () => {
    await create(newTemplate('v_roll'));
    await edit('v_roll', { text_content: 'second {{ name }}' });
    const back = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates/v_roll/activate',
      payload: { version: 1 },
    });
    expect(back.json()).toMatchObject({ version: 1, active_version: 1 });
    expect(
      (await getMessage(t, (await send({ template_key: 'v_roll', variables: { name: 'x' } })).json().items[0].id))
        .template_version,
    ).toBe(1);

    // An edit after a roll-back starts from the active version and takes the next free number.
    const next = await edit('v_roll', { html_content: '<p>third {{ name }}</p>' });
    expect(next.json()).toMatchObject({ version: 3, text_content: 'Hello {{ name }}, version one.' });

    const del = await t.inject({ method: 'DELETE', url: '/api/v1/email/templates/v_roll' });
    expect(del.json()).toMatchObject({ is_active: false, active_version: 3 });
    expect((await send({ template_key: 'v_roll', variables: { name: 'x' } })).statusCode).toBe(404);
    expect((await t.inject({ method: 'GET', url: '/api/v1/email/templates/v_roll/versions' })).json().total).toBe(3);
    const listed = (await t.inject({ method: 'GET', url: '/api/v1/email/templates' }))
      .json()
      .items.map((i: { key: string }) => i.key);
    expect(listed).not.toContain('v_roll');

    const again = await t.inject({ method: 'POST', url: '/api/v1/email/templates/v_roll/activate', payload: {} });
    expect(again.json()).toMatchObject({ is_active: true, active_version: 3 });
    expect((await send({ template_key: 'v_roll', variables: { name: 'x' } })).statusCode).toBe(201);
    expect(
      (await t.inject({ method: 'POST', url: '/api/v1/email/templates/v_roll/activate', payload: { version: 8 } }))
        .statusCode,
    ).toBe(404);
  });

  it('never produces two versions with the same number under concurrent edits', async () => {
    await create(newTemplate('v_race'));
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, i) => edit('v_race', { html_content: `<p>Hello {{ name }}, edit ${i}.</p>` })),
    );
    expect(replies.map((r) => r.statusCode)).toEqual(Array(6).fill(200));
    const versions = (await t.inject({ method: 'GET', url: '/api/v1/email/templates/v_race/versions' })).json();
    expect(versions.items.map((v: { version: number }) => v.version)).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(versions.active_version).toBe(7);
  });

  it('refuses an edit based on a version that is no longer active (409)', async () => {
    await create(newTemplate('v_base'));
    expect((await edit('v_base', { text_content: 'a {{ name }}', base_version: 1 })).statusCode).toBe(200);
    const stale = await edit('v_base', { text_content: 'b {{ name }}', base_version: 1 });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().error).toMatchObject({ code: 'conflict', details: { base_version: 1, active_version: 2 } });
  });

  it('keeps template changes for admin keys', async () => {
    const token = await sendKey(t, 'caller');
    expect((await create(newTemplate('v_forbidden'), token)).statusCode).toBe(403);
    expect((await edit('billing_invoice_monthly', { name: 'x' }, token)).statusCode).toBe(403);
    expect(
      (await t.inject({ method: 'GET', url: '/api/v1/email/templates/billing_invoice_monthly', token })).statusCode,
    ).toBe(200);
  });

  it('refuses bad bodies with 400 and unknown keys with 404', async () => {
    expect((await create({ ...newTemplate('Bad Key') })).statusCode).toBe(400);
    expect((await create({ ...newTemplate('v_bad'), required_variables: ['not-a-name'] })).statusCode).toBe(400);
    expect((await edit('v_nope', { name: 'x' })).statusCode).toBe(404);
    expect((await t.inject({ method: 'DELETE', url: '/api/v1/email/templates/v_nope' })).statusCode).toBe(404);
    const unknownLayout = await create(newTemplate('v_layout', { layout: 'nope' }));
    expect(unknownLayout.statusCode).toBe(422);
    expect(unknownLayout.json().error.code).toBe('template_error');
  });

  it('accepts every default template as it ships (declared variables match what they read)', async () => {
    for (const def of defaultTemplates) {
      const saved = await t.services.templateAdmin.save(def, { actor: 'test' });
      expect(saved, def.key).toMatchObject({ action: 'unchanged', version: 1, metadata_updated: false });
    }
  });
});
