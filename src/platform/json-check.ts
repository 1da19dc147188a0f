/** How deep parsed JSON from outside may nest (objects and arrays). Real bodies nest a few levels. */
export const MAX_JSON_DEPTH = 64;

/** JSON text that may hold an unpaired surrogate: JSON carries one only as a \uD800–\uDFFF escape. */
export const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

export interface JsonCheck {
  /** Look for NUL characters in keys and strings. */
  nul: boolean;
  /** Look for strings that are not well-formed UTF-16 (an unpaired surrogate). */
  unicode: boolean;
  /** Strings that may hold NUL on purpose (the large body path's markers for decoded base64). */
  marker?: (s: string) => boolean;
}

/**
 * What parsed JSON from outside may not hold, found in one iterative walk (it may be nested tens
 * of thousands deep): `depth`, nesting past MAX_JSON_DEPTH (the services that walk a value, such
 * as idempotency's canonical form or metadata's size, recurse, and would overflow the stack);
 * with `nul`, a NUL character in a key or a string (PostgreSQL text cannot hold one, no email
 * field may carry one); with `unicode`, an unpaired surrogate (from a `\ud800` escape), which
 * SQLite would store as invalid UTF-8 and PostgreSQL as U+FFFD. Null when none.
 */
export function jsonFault(value: unknown, opts: JsonCheck): 'depth' | 'nul' | 'unicode' | null {
  const strings = opts.nul || opts.unicode;
  const fault = (s: string) =>
    opts.nul && s.includes('\u0000') && !opts.marker?.(s)
      ? ('nul' as const)
      : opts.unicode && !s.isWellFormed()
        ? ('unicode' as const)
        : null;
  const values: unknown[] = [value];
  const depths: number[] = [0];
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (typeof v === 'string') {
      const f = strings ? fault(v) : null;
      if (f) return f;
      continue;
    }
    if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) continue;
    if (depth >= MAX_JSON_DEPTH) return 'depth';
    if (Array.isArray(v)) {
      for (const child of v) {
        values.push(child);
        depths.push(depth + 1);
      }
    } else {
      for (const k in v) {
        const f = strings ? fault(k) : null;
        if (f) return f;
        values.push((v as Record<string, unknown>)[k]);
        depths.push(depth + 1);
      }
    }
  }
  return null;
}
