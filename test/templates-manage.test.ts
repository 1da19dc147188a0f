import { loadConfig } from '../src/platform/config.js';
import { withBodies } from '../src/content/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { newTemplate } from './helpers/templates.js';

/** Duplicating, deleting (only a template no message used) and previewing an old version without restoring it. */
describe.each(backends)('template management on %s', (backend) => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext(backend);
  });
  afterAll(() => t.close());

  const create = (body: object) => t.inject({ method: 'POST', url: '/api/v1/email/templates', payload: body });
  const view = (key: string) => t.inject({ method: 'GET', url: `/api/v1/email/templates/${key}` });

  it('duplicates the active version under a new key as version 1, and refuses a taken key', async () => {
    await create(
      newTemplate('dup_src', { optional_variables: ['code'], html_content: '<p>{{ name }} {{ code }}</p>' }),
    );
    await t.inject({
      method: 'PUT',
      url: '/api/v1/email/templates/dup_src',
      payload: { subject: 'Second {{ name }}' },
    });
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates/dup_src/duplicate',
      payload: { key: 'dup_copy' },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      key: 'dup_copy',
      name: 'Template dup_src (copy)',
      version: 1,
      saved: { action: 'created', version: 1 },
    });
    const copy = (await view('dup_copy')).json();
    const src = (await view('dup_src')).json();
    expect(copy.locales).toEqual(src.locales);
    expect(copy.locales.fr.subject).toBe('Second {{ name }}');
    expect(copy.optional_variables).toEqual(['code']);
    const versions = (await t.inject({ method: 'GET', url: '/api/v1/email/templates/dup_copy/versions' })).json();
    expect(versions.items[0].comment).toBe('duplicated from dup_src v2');

    const taken = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates/dup_src/duplicate',
      payload: { key: 'dup_copy' },
    });
    expect(taken.statusCode).toBe(409);
    const missing = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates/nope/duplicate',
      payload: { key: 'x' },
    });
    expect(missing.statusCode).toBe(404);
  });

  it('deletes a template no message used, with its versions, and refuses one that was used', async () => {
    await create(newTemplate('del_unused'));
    await t.inject({ method: 'PUT', url: '/api/v1/email/templates/del_unused', payload: { subject: 'V2 {{ name }}' } });
    const del = await t.inject({ method: 'POST', url: '/api/v1/email/templates/del_unused/delete' });
    expect(del.statusCode).toBe(200);
    expect(del.json()).toEqual({ key: 'del_unused', deleted: true });
    expect((await view('del_unused')).statusCode).toBe(404);
    const left = await t.services.db
      .selectFrom('email_template_versions')
      .select('version')
      .where('template_key', '=', 'del_unused')
      .execute();
    expect(left).toEqual([]);
    // The key is free again.
    expect((await create(newTemplate('del_unused'))).statusCode).toBe(201);

    await create(newTemplate('del_used'));
    const sent = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { to: 'u@example.com', template_key: 'del_used', variables: { name: 'Ana' } },
    });
    expect(sent.statusCode).toBe(201);
    const refused = await t.inject({ method: 'POST', url: '/api/v1/email/templates/del_used/delete' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'conflict', details: { used_by_messages: true } });
    expect((await view('del_used')).statusCode).toBe(200);
  });

  it('previews an old version with sample variables without restoring it', async () => {
    await create(newTemplate('prev_old'));
    await t.inject({ method: 'PUT', url: '/api/v1/email/templates/prev_old', payload: { subject: 'New {{ name }}' } });
    const old = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates/prev_old/test',
      payload: { version: 1, variables: { name: 'Ana' } },
    });
    expect(old.statusCode).toBe(200);
    expect(old.json()).toMatchObject({ version: 1, subject: 'Hello Ana' });
    expect((await view('prev_old')).json().version).toBe(2);
  });

  it('refuses the class "all", the suppression scope of all mail (an unsubscribe from it would stop every mail)', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/v1/email/templates',
      payload: newTemplate('all_class', { class: 'all' }),
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'validation_failed', details: { field: 'class' } });
    expect(() => loadConfig({ EMAIL_RATE_LIMIT_ALL: '1/day' })).toThrow(/EMAIL_RATE_LIMIT_ALL/);
  });

  it('names the undeclared variable when the HTML reads one, so the editor can offer to declare it', async () => {
    await create(newTemplate('undeclared'));
    const res = await t.inject({
      method: 'PUT',
      url: '/api/v1/email/templates/undeclared',
      payload: { html_content: '<p>{{ name }} {{ coupon }}</p>' },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'validation_failed', details: { undeclared: ['coupon'] } });
    expect(res.json().error.message).toContain('coupon');
    const declared = await t.inject({
      method: 'PUT',
      url: '/api/v1/email/templates/undeclared',
      payload: { html_content: '<p>{{ name }} {{ coupon }}</p>', optional_variables: ['coupon'] },
    });
    expect(declared.statusCode).toBe(200);
    // Optional means optional: a send without it renders it empty instead of a 422.
    const sent = await t.inject({
      method: 'POST',
      url: '/api/v1/email/send',
      payload: { to: 'opt@example.com', template_key: 'undeclared', variables: { name: 'Ana' } },
    });
    expect(sent.statusCode).toBe(201);
    // The stored body, wherever it lives (content/bodies.ts).
    const [row] = await withBodies(t.services.db, [
      await t.services.db
        .selectFrom('email_messages')
        .select(['html_content', 'text_content', 'body_id'])
        .where('id', '=', sent.json().items[0].id)
        .executeTakeFirstOrThrow(),
    ]);
    expect(row!.html_content).toContain('<p>Ana </p>');
  });
});
