/**
 * Start tags and their attributes, read the way the HTML tokenizer reads them, in one linear pass
 * that never throws on hostile markup; and character references decoded as in an attribute
 * value. Shared by the templates' URL safety checks and the tracking of links in outgoing mail.
 */

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

/** HTML's ASCII whitespace: tab, LF, FF, CR, space (char codes: a regex per character cost 8 % of an accept). */
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
const SLASH = 0x2f;
const GT = 0x3e;
const EQ = 0x3d;
const isAsciiLetter = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/**
 * Where an attribute's parts lie in the HTML: `tag` lowercased, the rest as offsets (`tagStart`:
 * the tag's `<`, the same for every attribute of one tag).
 */
export type Visit = (
  tag: string,
  nameStart: number,
  nameEnd: number,
  valueStart: number,
  valueEnd: number,
  tagStart: number,
) => void;

/**
 * Start tags and their attributes, read as the HTML tokenizer reads them: a `>` inside a quoted
 * value does not end the tag, comments are skipped, unquoted values end at a space or `>`.
 * Offsets rather than strings: most attributes (juice's inlined `style`s) are skipped unread.
 */
export function scanAttributes(html: string, visit: Visit): void {
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
      visit(tag, nameStart, nameEnd, valueStart, valueEnd, lt);
    }
    i = j + 1;
  }
}
