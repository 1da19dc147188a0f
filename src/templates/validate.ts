import { AppError } from '../platform/errors.js';
import type { LocaleContent, TemplateDefinition } from './definition.js';
import type { CompiledTemplate } from './render.js';
import { splitLiquid } from './liquid-spans.js';
import { unsafeUrls } from './url-safety.js';

export const KEY_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,99}$/;
export const LOCALE_PATTERN = /^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$/;
export const VARIABLE_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;

export interface VariableCheck {
  /** Variables the template reads (built-ins excluded). */
  used: string[];
  /** Read by the template but declared neither required nor optional. */
  undeclared: string[];
  /** Declared but never read. */
  unused: string[];
}

export function checkVariables(used: string[], required: string[], optional: string[]): VariableCheck {
  const declared = new Set([...required, ...optional]);
  const usedSet = new Set(used);
  return {
    used: [...usedSet].sort(),
    undeclared: [...usedSet].filter((v) => !declared.has(v)).sort(),
    unused: [...declared].filter((v) => !usedSet.has(v)).sort(),
  };
}

type Compile = (content: LocaleContent, layout: string | null) => CompiledTemplate;

/**
 * Everything that must hold before a definition becomes a version: a sane key and locales,
 * Liquid that parses in every locale (422 template_error with the part, line and column),
 * and declared variables that match what the template really reads (422 validation_failed).
 * Returns each locale compiled, for a trial render.
 */
export function validateDefinition(def: TemplateDefinition, compile: Compile): Map<string, CompiledTemplate> {
  const fail = (message: string, details: Record<string, unknown>) => {
    throw new AppError('validation_failed', message, details);
  };
  if (!KEY_PATTERN.test(def.key)) fail('key: lowercase letters, digits, _ . - (at most 100)', { field: 'key' });
  // The suppression list's scope for all mail: an unsubscribe from a class named so would stop every mail.
  if (def.class === 'all') fail('class: "all" is reserved (the suppression scope of all mail)', { field: 'class' });
  const locales = Object.keys(def.locales);
  if (locales.length === 0) fail('A template needs content in at least one locale', { field: 'locales' });
  for (const l of locales)
    if (!LOCALE_PATTERN.test(l)) fail(`Invalid locale ${JSON.stringify(l)}`, { field: 'locales', locale: l });
  if (!def.locales[def.default_locale]) {
    fail(`default_locale ${def.default_locale} has no content`, { field: 'default_locale', locales });
  }
  const lists = {
    required_variables: def.required_variables,
    optional_variables: def.optional_variables,
    sensitive_variables: def.sensitive_variables,
  };
  for (const [field, list] of Object.entries(lists)) {
    const bad = list.filter((v) => !VARIABLE_PATTERN.test(v));
    if (bad.length) fail(`${field}: invalid variable names ${bad.join(', ')}`, { field, invalid: bad });
  }
  const both = def.required_variables.filter((v) => def.optional_variables.includes(v));
  if (both.length) fail(`Variables both required and optional: ${both.join(', ')}`, { both });
  const declared = new Set([...def.required_variables, ...def.optional_variables]);
  const unknownSensitive = def.sensitive_variables.filter((v) => !declared.has(v));
  if (unknownSensitive.length) {
    fail(`sensitive_variables must be declared required or optional: ${unknownSensitive.join(', ')}`, {
      unknown_sensitive: unknownSensitive,
    });
  }

  // A link written into the template itself: refused at save, not at every send. Liquid stands in
  // as `/`, which cannot be part of a scheme: a link whose scheme comes from a variable
  // (`{{ url }}`, `{{ protocol }}://…`) reads as relative here and is checked when rendered.
  for (const [locale, content] of Object.entries(def.locales)) {
    const withoutLiquid = splitLiquid(content.html_content)
      .map((part, i) => (i % 2 === 0 ? part : '/'))
      .join('');
    const bad = unsafeUrls(withoutLiquid)[0];
    if (bad)
      throw new AppError(
        'unsafe_url',
        `${locale}/html: <${bad.tag} ${bad.attribute}="${bad.value}"> uses the ${bad.scheme === '&' ? 'disguised' : `"${bad.scheme}:"`} scheme; ` +
          'only http, https, mailto, tel, cid or relative URLs are allowed',
        { locale, part: 'html', tag: bad.tag, attribute: bad.attribute, scheme: bad.scheme, value: bad.value },
      );
  }

  const compiled = new Map<string, CompiledTemplate>();
  for (const [locale, content] of Object.entries(def.locales)) {
    try {
      compiled.set(locale, compile(content, def.layout));
    } catch (e) {
      if (e instanceof AppError && e.code === 'template_error') {
        throw new AppError('template_error', `${locale}/${e.message}`, { locale, ...(e.details as object) });
      }
      throw e;
    }
  }
  const used = [...new Set([...compiled.values()].flatMap((c) => c.usedVariables))];
  const check = checkVariables(used, def.required_variables, def.optional_variables);
  if (check.undeclared.length || check.unused.length) {
    const parts = [
      check.undeclared.length ? `used but not declared: ${check.undeclared.join(', ')}` : '',
      check.unused.length ? `declared but not used: ${check.unused.join(', ')}` : '',
    ].filter(Boolean);
    fail(`Template variables do not match the declaration (${parts.join('; ')})`, {
      undeclared: check.undeclared,
      unused: check.unused,
    });
  }
  return compiled;
}
