import type { Rendered } from './render.js';

/** What the archive shows in place of a sensitive value. */
export const MASK = '••••••••';

/** The variables with every sensitive one that has a value replaced by the mask. */
export function maskVariables(variables: Record<string, unknown>, sensitive: string[]): Record<string, unknown> {
  const masked = { ...variables };
  for (const name of sensitive) {
    if (masked[name] !== undefined && masked[name] !== null) masked[name] = MASK;
  }
  return masked;
}

const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');

/**
 * Second line of defence after rendering with masked variables: a sensitive value may still
 * reach the output through another variable (a caller passing the password twice). Values
 * shorter than 4 characters are left alone, as replacing them would shred ordinary words.
 */
export function scrubValues(rendered: Rendered, variables: Record<string, unknown>, sensitive: string[]): Rendered {
  const needles = new Set<string>();
  for (const name of sensitive) {
    const v = variables[name];
    if ((typeof v === 'string' || typeof v === 'number') && String(v).length >= 4) {
      needles.add(String(v));
      needles.add(escapeHtml(String(v)));
    }
  }
  if (needles.size === 0) return rendered;
  // Longest first, so a value's escaped form is not half-replaced by a shorter one.
  const sorted = [...needles].sort((a, b) => b.length - a.length);
  const scrub = (s: string) => sorted.reduce((acc, n) => acc.split(n).join(MASK), s);
  return { subject: scrub(rendered.subject), html: scrub(rendered.html), text: scrub(rendered.text) };
}
