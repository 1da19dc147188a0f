import type { LocaleContent } from '../api-types.js';

/**
 * An unsaved template edit, kept in the browser's localStorage so a reload, a crash or a closed
 * tab does not lose it. `base_version` is the version the edit started from: saving sends it, so
 * an edit of an old version gets the server's 409 instead of overwriting a newer one.
 */
export interface TemplateDraft {
  base_version: number;
  locales: Record<string, LocaleContent>;
  variables: string;
  comment: string;
  saved_at: string;
}

export const draftKey = (templateKey: string) => `postier.draft.${templateKey}`;

const isText = (v: unknown): v is string => typeof v === 'string';
const isLocale = (v: unknown): v is LocaleContent => {
  if (!v || typeof v !== 'object') return false;
  const c = v as Record<string, unknown>;
  return (
    isText(c.subject) &&
    isText(c.html_content) &&
    (c.text_content === null || c.text_content === undefined || isText(c.text_content))
  );
};

/** A stored draft, or null when there is none or it is not one (an older format, a hand edit). */
export function parseDraft(raw: string | null): TemplateDraft | null {
  if (!raw) return null;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const d = v as Record<string, unknown>;
  if (!Number.isInteger(d.base_version) || !isText(d.variables) || !isText(d.comment) || !isText(d.saved_at))
    return null;
  if (!d.locales || typeof d.locales !== 'object' || Array.isArray(d.locales)) return null;
  const locales = Object.entries(d.locales as Record<string, unknown>);
  if (locales.length === 0 || !locales.every(([, c]) => isLocale(c))) return null;
  return d as unknown as TemplateDraft;
}

/** Same texts per locale (a missing text part and an empty one are the same edit). */
export function sameLocales(a: Record<string, LocaleContent>, b: Record<string, LocaleContent>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (!x || !y) return false;
    if (
      x.subject !== y.subject ||
      x.html_content !== y.html_content ||
      (x.text_content ?? '') !== (y.text_content ?? '')
    )
      return false;
  }
  return true;
}
