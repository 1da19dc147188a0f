import { MASK } from '../templates/index.js';

export { MASK };

/**
 * Captured mail is what was delivered: the clear text, sensitive template variables included. The
 * archive holds a rendering with those values masked (templates/sensitive.ts). Showing a captured
 * mail masks the same values: they are recovered by aligning the archived text, split at each
 * mask, with the captured one; what fills each gap is a sensitive value.
 */

/** The values that stand where `archived` has a mask, read from `clear`; empty when they do not align. */
export function maskedValues(archived: string | null, clear: string | null): string[] {
  if (!archived || !clear || !archived.includes(MASK)) return [];
  const parts = archived.split(MASK);
  const found: string[] = [];
  if (!clear.startsWith(parts[0]!)) return [];
  let at = parts[0]!.length;
  for (let i = 1; i < parts.length; i++) {
    const next = parts[i]!;
    const last = i === parts.length - 1;
    // The last literal part ends the text; any other is the next occurrence after the value.
    const end = last ? (clear.endsWith(next) ? clear.length - next.length : -1) : next ? clear.indexOf(next, at) : at;
    if (end < at) return [];
    const value = clear.slice(at, end);
    if (value) found.push(value);
    at = end + next.length;
  }
  return found;
}

const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');

/** Replaces every value (and its HTML-escaped form), longest first, by the mask. */
export function maskText(text: string, values: string[]): string {
  const needles = [...new Set(values.flatMap((v) => [v, escapeHtml(v)]))]
    .filter((v) => v.length > 0)
    .sort((a, b) => b.length - a.length);
  return needles.reduce((acc, n) => acc.split(n).join(MASK), text);
}
