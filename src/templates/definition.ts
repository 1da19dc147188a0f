import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A template as files: `<dir>/<key>/template.json` plus `<locale>/{subject,html,text}.liquid`.
 * The repository's defaults use this format, and so do `postier templates export|import`.
 */
export interface LocaleContent {
  subject: string;
  html_content: string;
  text_content: string | null;
}

export interface TemplateDefinition {
  key: string;
  name: string;
  description: string;
  category: string;
  class: string;
  priority: 'urgent' | 'normal' | 'low';
  max_attempts: number;
  attachments_allowed: boolean;
  layout: string | null;
  default_locale: string;
  required_variables: string[];
  optional_variables: string[];
  sensitive_variables: string[];
  sample_variables: Record<string, unknown>;
  locales: Record<string, LocaleContent>;
}

export const PRIORITY_VALUE = { urgent: 0, normal: 5, low: 9 } as const;
export const priorityName = (n: number): TemplateDefinition['priority'] =>
  n <= 0 ? 'urgent' : n >= 9 ? 'low' : 'normal';

const readOptional = (file: string): string | null => (existsSync(file) ? readFileSync(file, 'utf8') : null);

export function readTemplateDir(dir: string): TemplateDefinition {
  const file = path.join(dir, 'template.json');
  let meta: Omit<TemplateDefinition, 'locales'>;
  try {
    meta = JSON.parse(readFileSync(file, 'utf8')) as Omit<TemplateDefinition, 'locales'>;
  } catch (e) {
    // An import of many folders says which file is wrong, not only what JSON.parse met.
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta) || typeof meta.default_locale !== 'string')
    throw new Error(`${file}: expected an object with at least "key" and "default_locale"`);
  const locales: Record<string, LocaleContent> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const localeDir = path.join(dir, entry.name);
    const subject = readOptional(path.join(localeDir, 'subject.liquid'));
    const html = readOptional(path.join(localeDir, 'html.liquid'));
    if (subject === null || html === null) continue;
    locales[entry.name] = {
      subject: subject.trim(),
      html_content: html,
      text_content: readOptional(path.join(localeDir, 'text.liquid')),
    };
  }
  if (!locales[meta.default_locale]) {
    throw new Error(`${dir}: no content for its default locale ${meta.default_locale}`);
  }
  return {
    ...meta,
    layout: meta.layout ?? null,
    optional_variables: meta.optional_variables ?? [],
    sensitive_variables: meta.sensitive_variables ?? [],
    sample_variables: meta.sample_variables ?? {},
    locales,
  };
}

export function readTemplatesDir(root: string): TemplateDefinition[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(root, e.name, 'template.json')))
    .map((e) => readTemplateDir(path.join(root, e.name)))
    .sort((a, b) => a.key.localeCompare(b.key));
}

/** Pretty JSON with lists of names on one line, as the repository's files are written (clean diffs). */
function metaJson(meta: object): string {
  return JSON.stringify(meta, null, 2).replace(
    /\[\s+("(?:[^"\\]|\\.)*"(?:,\s+"(?:[^"\\]|\\.)*")*)\s+\]/g,
    (_, items: string) => `[${items.split(/,\s+(?=")/).join(', ')}]`,
  );
}

/**
 * Writes one template in the format readTemplateDir reads, replacing the folder `<root>/<key>`
 * as a whole so a locale removed from the template does not linger as files.
 */
export function writeTemplateDir(root: string, def: TemplateDefinition): string {
  const dir = path.join(root, def.key);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const { locales, ...meta } = def;
  writeFileSync(path.join(dir, 'template.json'), `${metaJson(meta)}\n`);
  for (const [locale, c] of Object.entries(locales)) {
    const localeDir = path.join(dir, locale);
    mkdirSync(localeDir);
    writeFileSync(path.join(localeDir, 'subject.liquid'), c.subject);
    writeFileSync(path.join(localeDir, 'html.liquid'), c.html_content);
    if (c.text_content !== null) writeFileSync(path.join(localeDir, 'text.liquid'), c.text_content);
  }
  return dir;
}
