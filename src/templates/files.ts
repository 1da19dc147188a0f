import { existsSync } from 'node:fs';
import type { Config } from '../platform/config.js';
import { readTemplatesDir, writeTemplateDir } from './definition.js';
import type { SaveOutcome, TemplateAdmin } from './admin.service.js';
import { blankDefinition } from './patch.js';
import type { TemplateService } from './service.js';

/**
 * Templates as code: `postier templates export|import DIR`, one folder per template in the
 * format of the repository's defaults (definition.ts).
 */

/** Writes the active version of every template (active or not) and returns the keys written. */
export async function exportTemplates(templates: TemplateService, dir: string): Promise<string[]> {
  const keys = (await templates.list({ includeInactive: true })).map((t) => t.key).sort();
  for (const key of keys) writeTemplateDir(dir, await templates.definition(key));
  return keys;
}

/**
 * Reads every template folder under `dir` and saves each: a new template, a new version where
 * the content differs from the active version, or nothing. All folders are validated before
 * anything is written, so a broken file leaves the database as it was.
 */
export async function importTemplates(
  admin: TemplateAdmin,
  config: Config,
  dir: string,
  actor: string,
): Promise<SaveOutcome[]> {
  if (!existsSync(dir)) throw new Error(`${dir}: no such folder`);
  // Fields missing from a hand-written template.json take the defaults of a new template.
  const defs = readTemplatesDir(dir).map((d) => ({ ...blankDefinition(d.key, config), ...d }));
  for (const def of defs) {
    try {
      admin.check(def);
    } catch (e) {
      throw new Error(
        `${def.key}: ${(e as Error).message}${'details' in (e as object) ? ` ${JSON.stringify((e as { details: unknown }).details)}` : ''}`,
      );
    }
  }
  const outcomes: SaveOutcome[] = [];
  for (const def of defs) outcomes.push(await admin.save(def, { actor, comment: `imported from ${dir}` }));
  return outcomes;
}

export function describeOutcome(o: SaveOutcome): string {
  const what =
    o.action === 'created'
      ? 'created (version 1)'
      : o.action === 'new_version'
        ? `new version ${o.version}`
        : `unchanged (version ${o.version})`;
  return `${o.key}: ${what}${o.metadata_updated ? ', metadata updated' : ''}`;
}
