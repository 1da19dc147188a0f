import type { Config } from '../platform/config.js';
import { AppError } from '../platform/errors.js';
import type { LocaleContent, TemplateDefinition } from './definition.js';

/** An edit as the API receives it: any field of a definition, plus per-locale content changes. */
export interface TemplatePatch extends Partial<Omit<TemplateDefinition, 'key' | 'locales'>> {
  /** Shorthand for the content of the default locale. */
  subject?: string;
  html_content?: string;
  text_content?: string | null;
  /** Per-locale changes: a partial content is merged into that locale; null removes the locale. */
  locales?: Record<string, Partial<LocaleContent> | null>;
}

/** What a new template starts from before its creation request is applied. */
export function blankDefinition(key: string, config: Config): TemplateDefinition {
  return {
    key,
    name: key,
    description: '',
    category: 'transactional',
    class: 'transactional',
    priority: 'normal',
    max_attempts: config.smtp.retryMaxAttempts,
    attachments_allowed: false,
    layout: 'default',
    default_locale: config.email.defaultLocale,
    required_variables: [],
    optional_variables: [],
    sensitive_variables: [],
    sample_variables: {},
    locales: {},
  };
}

function mergeLocale(locale: string, base: LocaleContent | undefined, change: Partial<LocaleContent>): LocaleContent {
  const subject = change.subject ?? base?.subject;
  const html = change.html_content ?? base?.html_content;
  if (subject === undefined || html === undefined) {
    throw new AppError('validation_failed', `Locale ${locale} is new: give both subject and html_content`, { locale });
  }
  const text = change.text_content !== undefined ? change.text_content : (base?.text_content ?? null);
  // An empty text body means "generate it from the HTML", like an absent one.
  return { subject: subject.trim(), html_content: html, text_content: text === '' ? null : text };
}

/** The definition an edit produces; `base` is left untouched. */
export function applyPatch(base: TemplateDefinition, patch: TemplatePatch): TemplateDefinition {
  const { subject, html_content, text_content, locales, ...fields } = patch;
  const def: TemplateDefinition = { ...base, locales: { ...base.locales } };
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined && k in base) (def as unknown as Record<string, unknown>)[k] = v;
  }
  for (const [locale, change] of Object.entries(locales ?? {})) {
    if (change === null) delete def.locales[locale];
    else def.locales[locale] = mergeLocale(locale, def.locales[locale], change);
  }
  if (subject !== undefined || html_content !== undefined || text_content !== undefined) {
    const l = def.default_locale;
    def.locales[l] = mergeLocale(l, def.locales[l], { subject, html_content, text_content });
  }
  return def;
}

const stable = (v: unknown): unknown =>
  v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, stable((v as Record<string, unknown>)[k])]),
      )
    : Array.isArray(v)
      ? v.map(stable)
      : v;

/** Equal fingerprints: the two definitions would store the same version. */
export function versionFingerprint(d: TemplateDefinition): string {
  return JSON.stringify(
    stable({
      default_locale: d.default_locale,
      layout: d.layout,
      attachments_allowed: d.attachments_allowed,
      required_variables: d.required_variables,
      optional_variables: d.optional_variables,
      sensitive_variables: d.sensitive_variables,
      sample_variables: d.sample_variables,
      locales: d.locales,
    }),
  );
}

/** Equal fingerprints: the template row (not versioned) needs no update. */
export function metadataFingerprint(d: TemplateDefinition): string {
  return JSON.stringify([d.name, d.description, d.category, d.class, d.priority, d.max_attempts]);
}
