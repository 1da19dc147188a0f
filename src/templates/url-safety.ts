/**
 * URLs in the attributes a mail client follows or loads (href, src, …) may only use schemes that
 * cannot run code: http, https, mailto, tel, cid, or be relative (an anchor, a path). A variable
 * holding `javascript:alert(1)` rendered into `<a href="{{ url }}">` is refused, whatever way it
 * is spelled: the value is read as a browser reads it (character references decoded, tabs and
 * newlines removed anywhere, leading and trailing spaces and control characters stripped, the
 * scheme compared case-insensitively). Our own small scanner, not a full HTML parser: it only
 * needs start tags and their attributes, and it must never throw on hostile markup.
 */

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

// Named references that can spell a scheme or hide its separator; any other named reference
// before the scheme's colon makes the value refused as obfuscated (a real URL never needs one).
const NAMED: Record<string, string> = {
  colon: ':',
  tab: '\t',
  newline: '\n',
  amp: '&',
  sol: '/',
  quot: '"',
  apos: "'",
  lt: '<',
  gt: '>',
  nbsp: '\u00a0',
  num: '#',
  quest: '?',
  lpar: '(',
  rpar: ')',
  period: '.',
  excl: '!',
};

/** Character references decoded as in an attribute value (numeric ones with or without `;`). */
export function decodeReferences(value: string): string {
  return value.replace(/&(#[xX][0-9a-fA-F]+|#\d+|[A-Za-z][A-Za-z0-9]*);?/g, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code =
        ref[1] === 'x' || ref[1] === 'X' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      if (!Number.isFinite(code) || code <= 0 || code > 0x10ffff) return '\ufffd';
      return String.fromCodePoint(code);
    }
    const named = NAMED[ref.toLowerCase()];
    return named ?? whole;
  });
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

/** HTML's ASCII whitespace: tab, LF, FF, CR, space (char codes: a regex per character cost 8 % of an accept). */
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
const SLASH = 0x2f;
const GT = 0x3e;
const EQ = 0x3d;
const isAsciiLetter = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** Where an attribute's parts lie in the HTML: `tag` lowercased, the rest as offsets. */
type Visit = (tag: string, nameStart: number, nameEnd: number, valueStart: number, valueEnd: number) => void;

/**
 * Start tags and their attributes, read as the HTML tokenizer reads them: a `>` inside a quoted
 * value does not end the tag, comments are skipped, unquoted values end at a space or `>`.
 * Offsets rather than strings: most attributes (juice's inlined `style`s) are skipped unread.
 */
function scanAttributes(html: string, visit: Visit): void {
  const n = html.length;
  let i = 0;
  while (i < n) {
    const lt = html.indexOf('<', i);
    if (lt === -1) return;
    if (html.startsWith('<!--', lt)) {
      const close = html.indexOf('-->', lt + 4);
      i = close === -1 ? n : close + 3;
      continue;
    }
    i = lt + 1;
    if (!isAsciiLetter(html.charCodeAt(i))) continue;
    let j = i;
    for (let c = html.charCodeAt(j); j < n && !isSpace(c) && c !== SLASH && c !== GT; c = html.charCodeAt(++j));
    const tag = html.slice(i, j).toLowerCase();
    for (;;) {
      for (let c = html.charCodeAt(j); j < n && (isSpace(c) || c === SLASH); c = html.charCodeAt(++j));
      if (j >= n || html.charCodeAt(j) === GT) break;
      const nameStart = j;
      j++; // the first character may be `=` (a name, as the tokenizer reads it)
      for (
        let c = html.charCodeAt(j);
        j < n && !isSpace(c) && c !== SLASH && c !== GT && c !== EQ;
        c = html.charCodeAt(++j)
      );
      const nameEnd = j;
      let k = j;
      while (k < n && isSpace(html.charCodeAt(k))) k++;
      let valueStart = k;
      let valueEnd = k;
      if (html.charCodeAt(k) === EQ) {
        k++;
        while (k < n && isSpace(html.charCodeAt(k))) k++;
        const q = html[k];
        if (q === '"' || q === "'") {
          const close = html.indexOf(q, k + 1);
          valueStart = k + 1;
          valueEnd = close === -1 ? n : close;
          k = close === -1 ? n : close + 1;
        } else {
          valueStart = k;
          for (let c = html.charCodeAt(k); k < n && !isSpace(c) && c !== GT; c = html.charCodeAt(++k));
          valueEnd = k;
        }
        j = k;
      }
      visit(tag, nameStart, nameEnd, valueStart, valueEnd);
    }
    i = j + 1;
  }
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
