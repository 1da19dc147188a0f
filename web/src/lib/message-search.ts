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

/** What the search can use today and what it had to leave out (and why). */
export interface SearchPlan {
  /** The query parameters of GET /api/v1/email/messages. */
  filter: MessageFilter;
  /** A whole message id: the page shows that message (GET /messages/:id). */
  messageId?: string;
  /** Parts left out: the server cannot search by them yet. */
  unsupported: string[];
  /** Parts that are wrong whatever the server: an unknown status, a date that is not a date. */
  invalid: { part: string; reason: 'status' | 'date' }[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FULL_ADDRESS = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * The query as the server's message list takes it. Today that list filters by exact recipient,
 * status, template, category and date range; the rest is reported in `unsupported` rather than
 * silently dropped. When the server offers full search (a `q` parameter: partial, case-insensitive
 * addresses, from, subject, tag, domain, words), this is the one function to change:
 * `return { filter: { q: formatSearch(q) }, unsupported: [], invalid: [] }`.
 */
export function planSearch(q: SearchQuery, dayStart: (date: string) => string): SearchPlan {
  const filter: MessageFilter = {};
  const unsupported: string[] = [];
  const invalid: SearchPlan['invalid'] = [];
  const { to, status, template, category, after, before, id } = q.terms;
  if (to) {
    if (FULL_ADDRESS.test(to)) filter.to = to;
    else unsupported.push(`to:${asValue(to)}`);
  }
  if (status) {
    const s = status.toLowerCase();
    if ((MESSAGE_STATUSES as readonly string[]).includes(s)) filter.status = s as MessageStatus;
    else invalid.push({ part: `status:${asValue(status)}`, reason: 'status' });
  }
  if (template) filter.template_key = template;
  if (category) filter.category = category;
  for (const [op, value, key] of [
    ['after', after, 'since'],
    ['before', before, 'until'],
  ] as const) {
    if (!value) continue;
    if (DATE.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`))) filter[key] = dayStart(value);
    else invalid.push({ part: `${op}:${asValue(value)}`, reason: 'date' });
  }
  let messageId: string | undefined;
  if (id) {
    if (UUID.test(id)) messageId = id.toLowerCase();
    else unsupported.push(`id:${asValue(id)}`);
  }
  for (const op of ['from', 'subject', 'tag', 'domain'] as const)
    if (q.terms[op]) unsupported.push(`${op}:${asValue(q.terms[op]!)}`);
  for (const w of q.text) unsupported.push(asWord(w));
  return { filter, ...(messageId ? { messageId } : {}), unsupported, invalid };
}
