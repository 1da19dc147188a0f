const NUL = /\u0000/g;

/**
 * A string as both databases can store it: NUL characters (PostgreSQL's text cannot hold one)
 * and unpaired surrogates (SQLite would store invalid UTF-8) become U+FFFD.
 */
export const storable = (s: string): string => s.replace(NUL, '\uFFFD').toWellFormed();

/** At most `max` UTF-16 code units of `s`, never half of a surrogate pair. */
export function cutWhole(s: string, max: number): string {
  if (s.length <= max) return s;
  return s.slice(0, /[\uD800-\uDBFF]/.test(s[max - 1]!) ? max - 1 : max);
}

/** storable, and at most `max` UTF-16 code units (so at most `max` characters in a varchar), cut whole. */
export const storableCut = (s: string, max: number): string => cutWhole(storable(s), max);
