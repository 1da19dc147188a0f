/**
 * URLs in the attributes a mail client follows or loads (href, src, …) may only use schemes that
 * cannot run code: http, https, mailto, tel, cid, or be relative (an anchor, a path). A variable
 * holding `javascript:alert(1)` rendered into `<a href="{{ url }}">` is refused, whatever way it
 * is spelled: the value is read as a browser reads it (character references decoded, tabs and
 * newlines removed anywhere, leading and trailing spaces and control characters stripped, the
 * scheme compared case-insensitively). Our own small scanner, not a full HTML parser: it only
 * needs start tags and their attributes, and it must never throw on hostile markup.
 */

import { decodeReferences, scanAttributes } from '../platform/html-attributes.js';

export { decodeReferences };

export const URL_ATTRIBUTES = new Set(['href', 'src', 'action', 'formaction', 'background', 'poster', 'xlink:href']);
export const SAFE_SCHEMES = new Set(['http', 'https', 'mailto', 'tel', 'cid']);

export interface UnsafeUrl {
  tag: string;
  attribute: string;
  /** The attribute's value as written in the HTML (truncated). */
  value: string;
  /** The scheme a browser would see, lowercased ('&' when a reference hides it). */
  scheme: string;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

/** The scheme a browser would resolve `raw` with (lowercase), null when relative, '&' when hidden. */
export function schemeOf(raw: string): string | null {
  // A value that starts with a plain scheme (a letter, no reference, tab or newline before the
  // colon) reads the same once decoded and stripped: the usual https link needs no more.
  const plain = SCHEME.exec(raw);
  if (plain) return plain[1]!.toLowerCase();
  const v = decodeReferences(raw)
    .replace(/[\t\n\r]/g, '')
    // C0 controls and space, as the URL parser strips them at both ends.
    .replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '');
  const m = SCHEME.exec(v);
  if (m) return m[1]!.toLowerCase();
  // A reference left undecoded before any path, query or fragment may be a disguised scheme.
  const head = v.split(/[/?#]/, 1)[0]!;
  if (/&[A-Za-z]/.test(head) && head.includes(':')) return '&';
  // Other characters cannot start a scheme: the value is relative.
  return null;
}

/** Start tags and their attributes (names lowercased), in document order. */
export function* startTagAttributes(html: string): Generator<{ tag: string; name: string; value: string }> {
  const found: Array<{ tag: string; name: string; value: string }> = [];
  scanAttributes(html, (tag, ns, ne, vs, ve) =>
    found.push({ tag, name: html.slice(ns, ne).toLowerCase(), value: html.slice(vs, ve) }),
  );
  yield* found;
}

const URL_ATTRIBUTE_LENGTHS = new Set([...URL_ATTRIBUTES].map((a) => a.length));

/** Every start tag's URL attribute whose scheme is not a safe one. */
export function unsafeUrls(html: string): UnsafeUrl[] {
  const found: UnsafeUrl[] = [];
  scanAttributes(html, (tag, ns, ne, vs, ve) => {
    if (!URL_ATTRIBUTE_LENGTHS.has(ne - ns)) return;
    const name = html.slice(ns, ne).toLowerCase();
    if (!URL_ATTRIBUTES.has(name)) return;
    const value = html.slice(vs, ve);
    const scheme = schemeOf(value);
    if (scheme !== null && !SAFE_SCHEMES.has(scheme))
      found.push({ tag, attribute: name, value: value.slice(0, 200), scheme });
  });
  return found;
}

/** The variable whose string value carries the unsafe URL, when one can be traced. */
export function variableOf(bad: UnsafeUrl, variables: Record<string, unknown>, prefix = ''): string | null {
  const want = decodeReferences(bad.value)
    .replace(/[\u0000-\u0020]+/g, '')
    .toLowerCase();
  for (const [k, v] of Object.entries(variables)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'string') {
      const have = decodeReferences(v)
        .replace(/[\u0000-\u0020]+/g, '')
        .toLowerCase();
      if (have && (want.includes(have) || have.includes(want))) return path;
    } else if (v && typeof v === 'object') {
      const inner = variableOf(bad, v as Record<string, unknown>, path);
      if (inner) return inner;
    }
  }
  return null;
}
