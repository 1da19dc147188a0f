/**
 * A small CSS reader for the HTML check: it walks a style sheet (or a style="" attribute) and
 * reports its at-rules, selectors and declarations. It does not build a tree or validate: like a
 * browser it skips what it cannot read, and it never throws, however broken the CSS is (an
 * unclosed string, block or comment ends at the end of the text).
 */
export interface CssVisitor {
  atRule(name: string, prelude: string): void;
  selector(list: string): void;
  declaration(property: string, value: string, important: boolean): void;
  comment(): void;
  /** A style rule inside a style rule (CSS nesting). */
  nested(): void;
}

/** Deeper blocks than this are skipped whole: real CSS never nests so deep, and recursion must stay bounded. */
const MAX_DEPTH = 16;

/** The text with its comments blanked out (each reported), strings left as they are. */
function withoutComments(css: string, v: CssVisitor): string {
  if (!css.includes('/*')) return css;
  let out = '';
  let i = 0;
  while (i < css.length) {
    const c = css[i]!;
    if (c === '"' || c === "'") {
      const end = stringEnd(css, i);
      out += css.slice(i, end);
      i = end;
    } else if (c === '/' && css[i + 1] === '*') {
      v.comment();
      const end = css.indexOf('*/', i + 2);
      i = end < 0 ? css.length : end + 2;
      out += ' ';
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Past the string opening at `i` (a backslash escapes; a newline ends an unclosed one, as in CSS). */
function stringEnd(s: string, i: number): number {
  const quote = s[i];
  let j = i + 1;
  while (j < s.length && s[j] !== quote && s[j] !== '\n') j += s[j] === '\\' ? 2 : 1;
  return Math.min(j + 1, s.length);
}

/** The first of `stops` at `i` or after it, outside strings, parentheses and brackets; `}` always stops. */
function readUntil(s: string, i: number, stops: string): number {
  let depth = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '"' || c === "'") {
      i = stringEnd(s, i);
      continue;
    }
    if (c === '}') return i;
    if (c === '(' || c === '[') depth++;
    else if ((c === ')' || c === ']') && depth > 0) depth--;
    else if (depth === 0 && stops.includes(c)) return i;
    i++;
  }
  return i;
}

/** Past the block whose `{` is just before `i`. */
function skipBlock(s: string, i: number): number {
  let depth = 1;
  while (i < s.length && depth > 0) {
    const c = s[i]!;
    if (c === '"' || c === "'") {
      i = stringEnd(s, i);
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}') depth--;
    i++;
  }
  return i;
}

function declaration(text: string, v: CssVisitor): void {
  const colon = text.indexOf(':');
  if (colon <= 0) return;
  const property = text.slice(0, colon).trim().toLowerCase();
  if (!/^-{0,2}[a-z_][\w-]*$/.test(property)) return;
  let value = text.slice(colon + 1).trim();
  const important = /!\s*important\s*$/i.test(value);
  if (important) value = value.replace(/!\s*important\s*$/i, '').trim();
  v.declaration(property, value, important);
}

/** What a block holds: rules (a style sheet, @media), declarations and nested rules (a style rule), keyframes. */
type Context = 'sheet' | 'rule' | 'declarations' | 'keyframes';

const GROUPING = /^(media|supports|container|layer|document|-moz-document|scope|starting-style)$/;

function block(s: string, i: number, ctx: Context, v: CssVisitor, depth: number): number {
  while (i < s.length) {
    while (i < s.length && /\s/.test(s[i]!)) i++;
    if (i >= s.length) break;
    const c = s[i]!;
    if (c === '}') {
      if (depth === 0) {
        i++; // a stray closing brace at the top: skipped, as a browser does
        continue;
      }
      return i + 1;
    }
    if (c === ';') {
      i++;
      continue;
    }
    const start = i;
    const end = readUntil(s, i, '{;');
    const text = s.slice(start, end).trim();
    i = end;
    if (s[end] !== '{') {
      if (c === '@') {
        const name = /^@([-\w]*)/.exec(text)![1]!.toLowerCase();
        v.atRule(name, text.slice(name.length + 1).trim());
      } else if (ctx === 'rule' || ctx === 'declarations') declaration(text, v);
      if (s[end] === ';') i++;
      continue;
    }
    // A block: an at-rule's, a rule's or a keyframe's.
    let inner: Context;
    if (c === '@') {
      const name = /^@([-\w]*)/.exec(text)![1]!.toLowerCase();
      v.atRule(name, text.slice(name.length + 1).trim());
      inner = GROUPING.test(name)
        ? ctx === 'rule'
          ? 'rule'
          : 'sheet'
        : name.endsWith('keyframes')
          ? 'keyframes'
          : 'declarations';
    } else if (ctx === 'keyframes') {
      inner = 'declarations';
    } else if (ctx === 'declarations') {
      i = skipBlock(s, end + 1); // a block among declarations (@font-face, style="") is not CSS: skipped
      continue;
    } else {
      if (ctx === 'rule') v.nested();
      v.selector(text);
      inner = 'rule';
    }
    i = depth >= MAX_DEPTH ? skipBlock(s, end + 1) : block(s, end + 1, inner, v, depth + 1);
  }
  return i;
}

/** A style sheet (the text of a <style> element). */
export function scanStyleSheet(css: string, v: CssVisitor): void {
  block(withoutComments(css, v), 0, 'sheet', v, 0);
}

/** The declarations of a style="" attribute. */
export function scanDeclarations(css: string, v: CssVisitor): void {
  block(withoutComments(css, v), 0, 'declarations', v, 0);
}
