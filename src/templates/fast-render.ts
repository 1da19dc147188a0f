/**
 * A direct renderer for the small part of Liquid most templates use, so a send does not pay
 * LiquidJS's generator machinery for every tag (its render was a third of the batch endpoint's
 * CPU and a seventh of a single send's; figures: docs/benchmarks.md).
 *
 * What it takes, in LiquidJS's own syntax and whitespace control (`{{-`, `-%}`, greedy): text;
 * `{{ a.b }}` with the filters `default: x` (first), `downcase`, `upcase`, `slice: n[, m]` and a
 * final `raw`; `{% if x %}`, `{% if x == y %}` and `!=` against a variable or a literal,
 * `{% else %}`, `{% endif %}`; `{% assign v = x | filters %}`. A template with anything else
 * (loops, other tags or filters, `and`/`or`, escapes in strings) is not compiled here:
 * `compileFast` returns null and LiquidJS renders it, always.
 *
 * What it reads: strings, numbers and booleans, through own properties of plain objects (and,
 * before `default`, a missing value or null). Any other value met while rendering (a missing
 * variable, null, an array, `x.size`) stops it:
 * `render` returns undefined and the caller renders with LiquidJS instead, which then raises the
 * same error or applies its own rules. So the output is LiquidJS's or nothing, byte for byte;
 * test/templates-fast-render.test.ts holds it to LiquidJS on every bundled template and on
 * generated ones. It has no loop, so the render time limit holds by construction; the output
 * is at most the template's text plus its values, and a value that would take it past
 * `maxChars` is neither escaped nor written: `render` gives up and LiquidJS refuses the render.
 */

/** Whitespace LiquidJS's greedy trim removes (its character table's BLANK class). */
function isBlank(c: number): boolean {
  return (
    c === 32 ||
    (c >= 9 && c <= 13) ||
    c === 160 ||
    c === 5760 ||
    c === 6158 ||
    (c >= 8192 && c <= 8202) ||
    c === 8232 ||
    c === 8233 ||
    c === 8239 ||
    c === 8287 ||
    c === 12288
  );
}

type Scalar = string | number | boolean;
/** A value the fast path does not render: LiquidJS must. */
const MISS = Symbol('miss');
type Got = Scalar | typeof MISS;

type Operand = { path: string[] } | { literal: string | number };
type Filter = { name: 'downcase' | 'upcase' } | { name: 'slice'; begin: number; length: number };
interface Expr {
  operand: Operand;
  /** `| default: x` as the first filter: LiquidJS then reads a missing operand as nil (lenientIf). */
  fallback: Operand | null;
  filters: Filter[];
}
type Node =
  | { kind: 'text'; text: string }
  | { kind: 'out'; expr: Expr; escape: boolean }
  | { kind: 'if'; left: Operand; op: '==' | '!=' | null; right: Operand | null; yes: Node[]; no: Node[] }
  | { kind: 'assign'; name: string; expr: Expr };

export interface FastTemplate {
  /** The output LiquidJS would give, or undefined when only LiquidJS can tell. */
  render(scope: Record<string, unknown>): string | undefined;
}

interface Token {
  kind: 'html' | 'tag' | 'out';
  begin: number;
  end: number;
  /** Delimited tokens: the `-` flags and the trimmed content. */
  trimLeft: boolean;
  trimRight: boolean;
  content: string;
  /** HTML: characters removed at each end by neighbours' whitespace control. */
  cutLeft: number;
  cutRight: number;
}

/**
 * Where an output's `}}` starts, read as LiquidJS reads it: a quoted string (with its backslash
 * escapes) is skipped whole, so a `}}` inside one does not end the output. -1 if none.
 */
function outputClose(src: string, p: number): number {
  let i = p;
  while (i < src.length) {
    const q = src.charCodeAt(i);
    if (q === 34 || q === 39) {
      i++;
      let escaped = false;
      while (i < src.length) {
        const c = src.charCodeAt(i++);
        if (c === q && !escaped) break;
        if (escaped) escaped = false;
        else if (c === 92) escaped = true;
      }
      continue;
    }
    i++;
    if (i - p >= 2 && src.charCodeAt(i - 1) === 125 && src.charCodeAt(i - 2) === 125) return i - 2;
  }
  return -1;
}

/** LiquidJS's top-level tokens, or null where this tokenizer might not split as it does. */
function tokenize(src: string): Token[] | null {
  const tokens: Token[] = [];
  let p = 0;
  while (p < src.length) {
    const tag = src.startsWith('{%', p);
    if (tag || src.startsWith('{{', p)) {
      const close = tag ? src.indexOf('%}', p + 1) : outputClose(src, p);
      if (close < 0) return null;
      const end = close + 2;
      if (p + 2 > close) return null;
      // As LiquidJS reads them: `{{-}}` has both flags on its one `-`.
      const trimLeft = src[p + 2] === '-';
      const trimRight = src[close - 1] === '-';
      let l = p + 2 + (trimLeft ? 1 : 0);
      let r = close - (trimRight ? 1 : 0);
      while (l < r && isBlank(src.charCodeAt(l))) l++;
      while (r > l && isBlank(src.charCodeAt(r - 1))) r--;
      tokens.push({
        kind: tag ? 'tag' : 'out',
        begin: p,
        end,
        trimLeft,
        trimRight,
        content: src.slice(l, r),
        cutLeft: 0,
        cutRight: 0,
      });
      p = end;
      continue;
    }
    let q = p;
    while (q < src.length && !src.startsWith('{%', q) && !src.startsWith('{{', q)) q++;
    tokens.push({
      kind: 'html',
      begin: p,
      end: q,
      trimLeft: false,
      trimRight: false,
      content: '',
      cutLeft: 0,
      cutRight: 0,
    });
    p = q;
  }
  // Whitespace control as LiquidJS applies it (greedy): a `-` trims the neighbouring text.
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'html') continue;
    const prev = tokens[i - 1];
    if (t.trimLeft && prev?.kind === 'html') {
      while (isBlank(src.charCodeAt(prev.end - 1 - prev.cutRight))) prev.cutRight++;
    }
    const next = tokens[i + 1];
    if (t.trimRight && next?.kind === 'html') {
      while (isBlank(src.charCodeAt(next.begin + next.cutLeft))) next.cutLeft++;
      if (src.charAt(next.begin + next.cutLeft) === '\n') next.cutLeft++;
    }
  }
  for (const t of tokens) if (t.kind === 'html') t.content = src.slice(t.begin + t.cutLeft, t.end - t.cutRight);
  return tokens;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Words LiquidJS reads as literals, and properties it computes rather than reads. */
const RESERVED = new Set(['empty', 'blank', 'nil', 'null', 'true', 'false', 'size', 'first', 'last']);
const LEX = /\s*(?:("[^"\\]*"|'[^'\\]*')|(-?\d+)(?![\w.])|([A-Za-z_][\w.]*)|(==|!=|\||:|,))/y;

type Lexeme = { s: string } | { n: number } | { id: string } | { op: string };

function lex(text: string): Lexeme[] | null {
  const out: Lexeme[] = [];
  LEX.lastIndex = 0;
  while (LEX.lastIndex < text.length) {
    const at = LEX.lastIndex;
    const m = LEX.exec(text);
    if (!m || m.index !== at) return /^\s*$/.test(text.slice(at)) ? out : null;
    if (m[1] !== undefined) out.push({ s: m[1].slice(1, -1) });
    else if (m[2] !== undefined) out.push({ n: Number(m[2]) });
    else if (m[3] !== undefined) out.push({ id: m[3] });
    else out.push({ op: m[4]! });
  }
  return out;
}

function operandOf(x: Lexeme | undefined): Operand | null {
  if (!x) return null;
  if ('s' in x) return { literal: x.s };
  if ('n' in x) return Number.isSafeInteger(x.n) ? { literal: x.n } : null;
  if ('id' in x) {
    const path = x.id.split('.');
    if (!path.every((seg) => NAME.test(seg) && !RESERVED.has(seg))) return null;
    return { path };
  }
  return null;
}

/** `operand | f | f: a, b` from position `i` to the end; the trailing `raw` of an output apart. */
function exprOf(xs: Lexeme[], allowRaw: boolean): { expr: Expr; raw: boolean } | null {
  const operand = operandOf(xs[0]);
  if (!operand) return null;
  const filters: Filter[] = [];
  let fallback: Operand | null = null;
  let raw = false;
  let i = 1;
  while (i < xs.length) {
    const bar = xs[i];
    const name = xs[i + 1];
    if (raw || !bar || !('op' in bar) || bar.op !== '|' || !name || !('id' in name)) return null;
    i += 2;
    const args: Lexeme[] = [];
    if (xs[i] && 'op' in xs[i]! && (xs[i] as { op: string }).op === ':') {
      i++;
      for (;;) {
        const a = xs[i];
        if (!a || 'op' in a) return null;
        args.push(a);
        i++;
        const comma = xs[i];
        if (comma && 'op' in comma && comma.op === ',') i++;
        else break;
      }
    }
    const ints = args.every((a) => 'n' in a && Number.isSafeInteger(a.n))
      ? args.map((a) => (a as { n: number }).n)
      : null;
    const first = filters.length === 0 && fallback === null;
    if ((name.id === 'downcase' || name.id === 'upcase') && args.length === 0) filters.push({ name: name.id });
    else if (name.id === 'slice' && ints && ints.length >= 1 && ints.length <= 2)
      filters.push({ name: 'slice', begin: ints[0]!, length: ints[1] ?? 1 });
    else if (name.id === 'default' && first && args.length === 1) {
      fallback = operandOf(args[0]);
      if (!fallback) return null;
    } else if (name.id === 'raw' && allowRaw && args.length === 0) raw = true;
    else return null;
  }
  return { expr: { operand, fallback, filters }, raw };
}

function parse(tokens: Token[], escapeHtml: boolean): Node[] | null {
  const root: Node[] = [];
  // Open ifs: the node, and whether its else has begun.
  const stack: Array<{ node: Extract<Node, { kind: 'if' }>; inElse: boolean }> = [];
  const target = () => {
    const top = stack[stack.length - 1];
    return top ? (top.inElse ? top.node.no : top.node.yes) : root;
  };
  for (const t of tokens) {
    if (t.kind === 'html') {
      if (t.content) target().push({ kind: 'text', text: t.content });
      continue;
    }
    if (t.kind === 'out') {
      const xs = lex(t.content);
      const e = xs && exprOf(xs, true);
      if (!e) return null;
      target().push({ kind: 'out', expr: e.expr, escape: escapeHtml && !e.raw });
      continue;
    }
    const m = /^([A-Za-z_]\w*)(?:\s+([\s\S]*))?$/.exec(t.content);
    if (!m) return null;
    const [, name, args = ''] = m;
    if (name === 'if') {
      const xs = lex(args);
      if (!xs || (xs.length !== 1 && xs.length !== 3)) return null;
      const left = operandOf(xs[0]);
      const opx = xs[1];
      const op = opx && 'op' in opx && (opx.op === '==' || opx.op === '!=') ? opx.op : null;
      const right = xs.length === 3 ? operandOf(xs[2]) : null;
      if (!left || (xs.length === 3 && (!op || !right))) return null;
      const node: Extract<Node, { kind: 'if' }> = { kind: 'if', left, op, right, yes: [], no: [] };
      target().push(node);
      stack.push({ node, inElse: false });
    } else if (name === 'else' && !args) {
      const top = stack[stack.length - 1];
      if (!top || top.inElse) return null;
      top.inElse = true;
    } else if (name === 'endif' && !args) {
      if (!stack.pop()) return null;
    } else if (name === 'assign') {
      const a = /^([A-Za-z_]\w*)\s*=\s*([\s\S]+)$/.exec(args);
      const xs = a && lex(a[2]!);
      const e = xs && exprOf(xs, false);
      if (!a || !e || RESERVED.has(a[1]!)) return null;
      target().push({ kind: 'assign', name: a[1]!, expr: e.expr });
    } else return null;
  }
  return stack.length === 0 ? root : null;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return (proto === Object.prototype || proto === null) && typeof (v as { toLiquid?: unknown }).toLiquid !== 'function';
};

/**
 * A variable read leniently, as LiquidJS does before `default`: a missing one (or a property of a
 * missing one) is undefined, null stays null; anything else that is not a scalar is MISS.
 */
function readLenient(
  operand: Operand,
  scope: Record<string, unknown>,
  assigned: Map<string, Scalar>,
): Got | null | undefined {
  if ('literal' in operand) return operand.literal;
  const [head, ...rest] = operand.path as [string, ...string[]];
  let v: unknown = assigned.has(head) ? assigned.get(head) : Object.hasOwn(scope, head) ? scope[head] : undefined;
  for (const seg of rest) {
    if (v === undefined || v === null) break;
    if (!isPlainObject(v)) return MISS;
    v = Object.hasOwn(v, seg) ? v[seg] : undefined;
  }
  if (v === undefined || v === null) return v;
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) ? v : MISS;
}

function read(operand: Operand, scope: Record<string, unknown>, assigned: Map<string, Scalar>): Got {
  if ('literal' in operand) return operand.literal;
  const [head, ...rest] = operand.path as [string, ...string[]];
  let v: unknown;
  if (assigned.has(head)) v = assigned.get(head);
  else if (Object.hasOwn(scope, head)) v = scope[head];
  else return MISS;
  for (const seg of rest) {
    if (!isPlainObject(v) || !Object.hasOwn(v, seg)) return MISS;
    v = v[seg];
  }
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) ? v : MISS;
}

/** LiquidJS's slice on a string: code points, a negative start counted from the end. */
function advance(s: string, from: number, count: number): number {
  let i = from;
  for (let n = 0; n < count && i < s.length; n++) i += s.codePointAt(i)! > 0xffff ? 2 : 1;
  return i;
}
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i = advance(s, i, 1)) n++;
  return n;
}
function slice(s: string, begin: number, length: number): string {
  const b = begin < 0 ? codePoints(s) + begin : begin;
  if (b < 0 || length < 0) return '';
  const start = advance(s, 0, b);
  return s.slice(start, advance(s, start, length));
}

function evaluate(expr: Expr, scope: Record<string, unknown>, assigned: Map<string, Scalar>): Got {
  let v: Got;
  if (expr.fallback) {
    // LiquidJS evaluates a filter's arguments whether or not it uses them (a missing one throws).
    const fallback = read(expr.fallback, scope, assigned);
    const own = readLenient(expr.operand, scope, assigned);
    if (fallback === MISS || own === MISS) return MISS;
    v = own === undefined || own === null || own === false || own === '' ? fallback : own;
  } else v = read(expr.operand, scope, assigned);
  if (v === MISS) return MISS;
  for (const f of expr.filters) {
    const s: string = String(v);
    if (f.name === 'slice') v = slice(s, f.begin, f.length);
    else v = f.name === 'downcase' ? s.toLowerCase() : s.toUpperCase();
  }
  return v;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/**
 * The length of `s` once escaped, without building it. An entity is at most 5 characters, so a
 * value escapes to at most 5 times its length: only a value of more than a fifth of a limit needs
 * counting (callers compare with `5 * s.length` first).
 */
export function escapedLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 60 || c === 62)
      n += 3; // < > : &lt; &gt;
    else if (c === 38 || c === 34 || c === 39) n += 4; // & " ' : &amp; &#34; &#39;
  }
  return n;
}

function run(
  nodes: Node[],
  scope: Record<string, unknown>,
  assigned: Map<string, Scalar>,
  limit: number,
  before: number,
): string | undefined {
  let out = '';
  for (const node of nodes) {
    if (node.kind === 'text') out += node.text;
    else if (node.kind === 'out') {
      const v = evaluate(node.expr, scope, assigned);
      if (v === MISS) return undefined;
      const s = String(v);
      // Past the output limit: LiquidJS renders and refuses at its first write past it. A value is
      // measured before it is escaped (20 MB of `<` took 2 s and 0.9 GB to escape, ten times 16 s).
      const room = limit - before - out.length;
      if (s.length > room || (node.escape && 5 * s.length > room && escapedLength(s) > room)) return undefined;
      out += node.escape ? escapeHtml(s) : s;
    } else if (node.kind === 'assign') {
      const v = evaluate(node.expr, scope, assigned);
      if (v === MISS) return undefined;
      assigned.set(node.name, v);
    } else {
      const l = read(node.left, scope, assigned);
      if (l === MISS) return undefined;
      let taken: boolean;
      if (node.op === null) taken = l !== false;
      else {
        const r = read(node.right!, scope, assigned);
        if (r === MISS) return undefined;
        taken = (l === r) === (node.op === '==');
      }
      const inner = run(taken ? node.yes : node.no, scope, assigned, limit, before + out.length);
      if (inner === undefined) return undefined;
      out += inner;
    }
  }
  return out;
}

/** The template compiled for the fast path, or null when LiquidJS must render it. */
export function compileFast(source: string, escapeHtml: boolean, maxChars = Infinity): FastTemplate | null {
  const tokens = tokenize(source);
  const nodes = tokens && parse(tokens, escapeHtml);
  if (!nodes) return null;
  return {
    render: (scope) => {
      try {
        return run(nodes, scope, new Map(), maxChars, 0);
      } catch {
        // Only a stack too deep for its recursion (ifs nested thousands deep) can throw here:
        // LiquidJS then renders, or refuses with its own error.
        return undefined;
      }
    },
  };
}
