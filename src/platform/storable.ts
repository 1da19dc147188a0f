const NUL = /\u0000/g;

/**
 * A string as both databases can store it: NUL characters (PostgreSQL's text cannot hold one)
 * and unpaired surrogates (SQLite would store invalid UTF-8) become U+FFFD.
 */
export const storable = (s: string): string => s.replace(NUL, '\uFFFD').toWellFormed();

/** storable, and at most `max` UTF-16 code units (so at most `max` characters in a varchar), cut whole. */
export function storableCut(s: string, max: number): string {
  const clean = storable(s);
  if (clean.length <= max) return clean;
  // Not half of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(clean[max - 1]!) ? max - 1 : max;
  return clean.slice(0, end);
}
