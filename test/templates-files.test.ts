import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTemplatesDir } from '../src/templates/definition.js';
import { describeOutcome, exportTemplates, importTemplates } from '../src/templates/files.js';
import { DEFAULT_TEMPLATES_DIR } from '../src/templates/paths.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { newTemplate } from './helpers/templates.js';
import { builtMain } from './support/processes.js';

const run = promisify(execFile);

describe.each(backends)('templates as code on %s', (backend) => {
  let t: TestContext;
  let dir: string;
  beforeAll(async () => {
    t = await createTestContext(backend);
    dir = mkdtempSync(path.join(tmpdir(), 'postier-export-'));
  });
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const versionsOf = async (key: string) =>
    (await t.inject({ method: 'GET', url: `/api/v1/email/templates/${key}/versions` })).json();

  it('exports the seeded defaults byte for byte as the repository holds them', async () => {
    const keys = await exportTemplates(t.services.templates, dir);
    expect(keys).toHaveLength(12);
    for (const key of keys) {
      for (const file of ['template.json', 'fr/subject.liquid', 'fr/html.liquid', 'fr/text.liquid']) {
        expect(readFileSync(path.join(dir, key, file), 'utf8'), `${key}/${file}`).toBe(
          readFileSync(path.join(DEFAULT_TEMPLATES_DIR, key, file), 'utf8'),
        );
      }
    }
    expect(readTemplatesDir(dir)).toEqual(readTemplatesDir(DEFAULT_TEMPLATES_DIR));
  });

  it('imports: a new version only where content changed, new templates created, and says so', async () => {
    const unchanged = await importTemplates(t.services.templateAdmin, t.config, dir, 'cli');
    expect(unchanged.every((o) => o.action === 'unchanged')).toBe(true);

    await t.inject({ method: 'POST', url: '/api/v1/email/templates', payload: newTemplate('f_new') });
    await exportTemplates(t.services.templates, dir);
    expect(existsSync(path.join(dir, 'f_new', 'template.json'))).toBe(true);
    // A developer edits one file, removes one folder and writes a new one by hand, with only
    // the essential fields.
    const text = path.join(dir, 'rma_confirmation', 'fr', 'text.liquid');
    writeFileSync(text, readFileSync(text, 'utf8').replace('Merci!', 'Merci beaucoup !'));
    rmSync(path.join(dir, 'f_new'), { recursive: true });
    const added = path.join(dir, 'f_added');
    mkdirSync(path.join(added, 'fr'), { recursive: true });
    writeFileSync(
      path.join(added, 'template.json'),
      JSON.stringify({
        key: 'f_added',
        name: 'Added',
        category: 'support',
        default_locale: 'fr',
        layout: null,
        required_variables: ['who'],
      }),
    );
    writeFileSync(path.join(added, 'fr', 'subject.liquid'), 'Pour {{ who }}\n');
    writeFileSync(path.join(added, 'fr', 'html.liquid'), '<p>Bonjour {{ who }}</p>');

    const outcomes = await importTemplates(t.services.templateAdmin, t.config, dir, 'cli');
    const byKey = Object.fromEntries(outcomes.map((o) => [o.key, o]));
    expect(byKey.rma_confirmation).toMatchObject({ action: 'new_version', version: 2 });
    expect(byKey.f_added).toMatchObject({ action: 'created', version: 1 });
    expect(byKey.billing_invoice_monthly).toMatchObject({ action: 'unchanged', version: 1 });
    expect(describeOutcome(byKey.rma_confirmation!)).toBe('rma_confirmation: new version 2');
    expect(describeOutcome(byKey.f_added!)).toBe('f_added: created (version 1)');
    expect((await versionsOf('rma_confirmation')).items[0]).toMatchObject({
      version: 2,
      active: true,
      created_by: 'cli',
    });
    // A template absent from the folder is left alone (import never deletes).
    expect((await versionsOf('f_new')).is_active).toBe(true);
  });

  it('imports nothing when one folder is invalid', async () => {
    const bad = mkdtempSync(path.join(tmpdir(), 'postier-bad-'));
    try {
      await exportTemplates(t.services.templates, bad);
      writeFileSync(
        path.join(bad, 'cutover_reminder', 'fr', 'text.liquid'),
        'changed {{ reseller_name }} {{ items_done }} {{ items_total }} {{ link_portal }}',
      );
      writeFileSync(path.join(bad, 'support_ticket_created', 'fr', 'html.liquid'), '<p>{% if x %}</p>');
      await expect(importTemplates(t.services.templateAdmin, t.config, bad, 'cli')).rejects.toThrow(
        /support_ticket_created: .*line:1, col:4/,
      );
      expect((await versionsOf('cutover_reminder')).total).toBe(1);
      await expect(importTemplates(t.services.templateAdmin, t.config, path.join(bad, 'nope'), 'cli')).rejects.toThrow(
        /no such folder/,
      );
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});

describe('reading template folders', () => {
  it('names the template.json that is not JSON, or not a template', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'postier-tpl-bad-'));
    try {
      for (const [name, text, message] of [
        ['broken', '{"key": "broken",', /broken[/\\]template\.json: .*JSON/],
        ['list', '[1, 2]', /list[/\\]template\.json: expected an object/],
      ] as const) {
        const dir = path.join(root, name);
        mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, 'template.json'), text);
        expect(() => readTemplatesDir(root)).toThrow(message);
        rmSync(dir, { recursive: true, force: true });
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('postier templates export|import (CLI)', () => {
  it('round-trips through the command line and prints what it did', async () => {
    // Migrated and seeded in this process, as `postier migrate` would (test/cli.test.ts runs it):
    // a CLI process starts in a second or more.
    const t = await createTestContext('sqlite');
    const data = t.dir;
    const env = {
      ...process.env,
      DATA_DIR: data,
      DATABASE_URL: t.config.databaseUrl,
      EMAIL_TEMPLATES_DIR: path.join(data, 'tpl'),
      LOG_LEVEL: 'silent',
    };
    const cli = (extra: Record<string, string>, ...args: string[]) =>
      run(process.execPath, [builtMain(), 'templates', ...args], { env: { ...env, ...extra }, cwd: path.resolve('.') });
    try {
      const [missing, exported] = await Promise.all([
        // The templates commands use an existing database (a missing one is a typo: exit 2).
        cli({ DATABASE_URL: `sqlite:${path.join(data, 'missing.db')}` }, 'export').catch((e: unknown) => e),
        cli({}, 'export'),
      ]);
      expect(missing).toMatchObject({ code: 2 });
      expect(existsSync(path.join(data, 'missing.db'))).toBe(false);
      expect(exported.stdout).toContain(`12 templates written to ${path.join(data, 'tpl')}`);
      expect(existsSync(path.join(data, 'tpl', 'instance_provisioned', 'en', 'html.liquid'))).toBe(true);
      const subject = path.join(data, 'tpl', 'cutover_reminder', 'fr', 'subject.liquid');
      writeFileSync(subject, 'Rappel : checklist {{ reseller_name }}');
      const imported = await cli({}, 'import');
      expect(imported.stdout).toContain('cutover_reminder: new version 2');
      expect(imported.stdout).toContain('billing_invoice_monthly: unchanged (version 1)');
    } finally {
      await t.close();
    }
  });
});
