import { MESSAGE_STATUSES, type MessageFilter, type MessageStatus } from '../api-types.js';

/**
 * The Messages search box: one line of words and `operator:value` terms, like a mail client's.
 * `to:ada@example.com status:failed after:2026-03-01 "exact words"`. Values with spaces are
 * quoted (`subject:"Facture RGZ"`). `after:` is on or after that day, `before:` before it
 * (both local days), as in Gmail.
 */
export const OPERATORS = [
  'to',
  'from',
  'subject',
  'id',
  'template',
  'category',
  'tag',
  'status',
  'domain',
  'after',
  'before',
] as const;
export type Operator = (typeof OPERATORS)[number];

export interface SearchQuery {
  /** One value per operator: a repeated operator keeps its last value. */
  terms: Partial<Record<Operator, string>>;
  /** Words and quoted phrases without an operator. */
  text: string[];
}

const isOperator = (s: string): s is Operator => (OPERATORS as readonly string[]).includes(s);
export const emptyQuery = (): SearchQuery => ({ terms: {}, text: [] });

/** Splits on spaces outside double quotes; `\"` and `\\` escape inside quotes. */
function tokens(input: string): { raw: string; op?: string; value: string }[] {
  const out: { raw: string; op?: string; value: string }[] = [];
  let i = 0;
  while (i < input.length) {
    while (i < input.length && /\s/.test(input[i]!)) i++;
    if (i >= input.length) break;
    const start = i;
    let op: string | undefined;
    const head = /^([A-Za-z]+):/.exec(input.slice(i));
    if (head) {
      op = head[1]!.toLowerCase();
      i += head[0].length;
    }
    let value = '';
    if (input[i] === '"') {
      i++;
      while (i < input.length && input[i] !== '"') {
        if (input[i] === '\\' && i + 1 < input.length) i++;
        value += input[i];
        i++;
      }
      i++; // the closing quote (an unclosed one ends with the input)
    } else {
      while (i < input.length && !/\s/.test(input[i]!)) value += input[i++];
    }
    out.push({ raw: input.slice(start, i), op, value });
  }
  return out;
}

/** The box's text as terms and words. Unknown operators (`10:30`, `foo:bar`) are plain words. */
export function parseSearch(input: string): SearchQuery {
  const q = emptyQuery();
  for (const t of tokens(input)) {
    if (t.op !== undefined && isOperator(t.op)) {
      const v = t.value.trim();
      if (v) q.terms[t.op] = v;
      else delete q.terms[t.op];
    } else if (t.op !== undefined) {
      q.text.push(`${t.raw.slice(0, t.raw.indexOf(':') + 1)}${t.value}`);
    } else if (t.value.trim()) {
      q.text.push(t.value);
    }
  }
  return q;
}

const quote = (v: string) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
/** Quoted when it would not read back as one plain value. */
const asValue = (v: string) => (v === '' || /[\s"\\]/.test(v) ? quote(v) : v);
const asWord = (w: string) => (/[\s"\\]/.test(w) || /^[A-Za-z]+:/.test(w) ? quote(w) : w);

/** The query as the box shows it, operators in a fixed order, then the words. */
export function formatSearch(q: SearchQuery): string {
  const parts: string[] = [];
  for (const op of OPERATORS) {
    const v = q.terms[op];
    if (v !== undefined && v !== '') parts.push(`${op}:${asValue(v)}`);
  }
  for (const w of q.text) if (w !== '') parts.push(asWord(w));
  return parts.join(' ');
}

/** The query with one operator set (or removed, with an empty value): the filter fields edit the box through this. */
export function withTerm(q: SearchQuery, op: Operator, value: string): SearchQuery {
  const terms = { ...q.terms };
  if (value.trim()) terms[op] = value.trim();
  else delete terms[op];
  return { terms, text: q.text };
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const nextDay = (date: string): string => {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
};

/**
 * The query in the page's URL: one parameter per operator and `q` for the words, so
 * `/admin/messages?status=failed` reads as the search `status:failed`. Links from before the
 * search box keep working: `template_key` is `template`, `since` is `after`, and the inclusive
 * `until` day becomes `before` the next day.
 */
export function searchFromUrl(params: URLSearchParams): SearchQuery {
  const q = params.get('q') ? parseSearch(params.get('q')!) : emptyQuery();
  const legacy: [string, Operator, (v: string) => string][] = [
    ['template_key', 'template', (v) => v],
    ['since', 'after', (v) => v],
    ['until', 'before', (v) => (DATE.test(v) ? nextDay(v) : v)],
  ];
  for (const [name, op, map] of legacy) {
    const v = params.get(name)?.trim();
    if (v) q.terms[op] = map(v);
  }
  for (const op of OPERATORS) {
    const v = params.get(op)?.trim();
    if (v) q.terms[op] = v;
  }
  return q;
}

export function searchToUrl(q: SearchQuery): URLSearchParams {
  const params = new URLSearchParams();
  for (const op of OPERATORS) if (q.terms[op]) params.set(op, q.terms[op]!);
  if (q.text.length) params.set('q', formatSearch({ terms: {}, text: q.text }));
  return params;
}

/** The search as the server takes it, and the parts that are wrong whatever the server. */
export interface SearchPlan {
  /** The query parameters of GET /api/v1/email/messages: the whole search as `q`. */
  filter: MessageFilter;
  /** Parts left out of `q` and shown as errors: an unknown status, a date that is not a date. */
  invalid: { part: string; reason: 'status' | 'date' }[];
}

/**
 * The query as the server's message list takes it: `q`, in the same grammar (the server reads
 * it with src/messages/search-query.ts), partial and case-insensitive on its side. Days are the
 * viewer's: `after:` and `before:` go as the instant that local day starts.
 */
export function planSearch(q: SearchQuery, dayStart: (date: string) => string): SearchPlan {
  const invalid: SearchPlan['invalid'] = [];
  const terms = { ...q.terms };
  if (terms.status !== undefined) {
    const s = terms.status.toLowerCase();
    if ((MESSAGE_STATUSES as readonly string[]).includes(s)) terms.status = s as MessageStatus;
    else {
      invalid.push({ part: `status:${asValue(terms.status)}`, reason: 'status' });
      delete terms.status;
    }
  }
  for (const op of ['after', 'before'] as const) {
    const value = terms[op];
    if (!value) continue;
    if (DATE.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`))) terms[op] = dayStart(value);
    else {
      invalid.push({ part: `${op}:${asValue(value)}`, reason: 'date' });
      delete terms[op];
    }
  }
  const text = formatSearch({ terms, text: q.text });
  return { filter: text ? { q: text } : {}, invalid };
}
