import { MESSAGE_STATUSES, type MessageStatus } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';

/**
 * The search box's language, read on the server (GET /api/v1/email/messages?q=): words and
 * `operator:value` terms separated by spaces, values with spaces in double quotes (`\"` and `\\`
 * escape inside). The admin UI writes the same grammar (web/src/lib/message-search.ts). An
 * unknown operator (`10:30`) is a plain word; every term must hold (AND).
 */
export const SEARCH_OPERATORS = [
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
type Operator = (typeof SEARCH_OPERATORS)[number];

/** Partial matches are served by trigram indexes: a shorter fragment has no trigram to look up. */
export const MIN_PARTIAL_LENGTH = 3;
const MAX_TERMS = 20;

export interface SearchTerms {
  /** A whole address (matched exactly, whatever its case) or a fragment of one. */
  to: { value: string; whole: boolean }[];
  from: string[];
  subject: string[];
  /** Whole message ids, id prefixes (`0192f3`), or a relay's id (SES message id). */
  id: { value: string; kind: 'id' | 'prefix' | 'provider' }[];
  template: string[];
  category: string[];
  tag: string[];
  status: MessageStatus[];
  domain: string[];
  /** Epoch ms: created at or after; created before. */
  after?: number;
  before?: number;
  /** Each matches the recipient, the subject or a tag, in part, whatever the case. */
  words: string[];
}

const fail = (message: string, details: Record<string, unknown>): never => {
  throw new AppError('invalid_search', message, details);
};

interface Token {
  op?: string;
  value: string;
  raw: string;
}

function tokens(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    while (i < input.length && /\s/.test(input[i]!)) i++;
    if (i >= input.length) break;
    const start = i;
    const head = /^([A-Za-z]+):/.exec(input.slice(i));
    const op = head ? head[1]!.toLowerCase() : undefined;
    if (head) i += head[0].length;
    let value = '';
    if (input[i] === '"') {
      i++;
      for (;;) {
        if (i >= input.length) fail('Unclosed double quote', { at: start });
        if (input[i] === '"') break;
        if (input[i] === '\\' && i + 1 < input.length) i++;
        value += input[i++];
      }
      i++;
    } else {
      while (i < input.length && !/\s/.test(input[i]!)) value += input[i++];
    }
    out.push({ op, value, raw: input.slice(start, i) });
  }
  return out;
}

const isOperator = (s: string): s is Operator => (SEARCH_OPERATORS as readonly string[]).includes(s);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ID_PREFIX = /^[0-9a-f][0-9a-f-]{3,35}$/;
const WHOLE_ADDRESS = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/** `YYYY-MM-DD` (that day, UTC) or an ISO 8601 date-time with its offset. */
function instant(op: string, value: string): number {
  const ms = DAY.test(value) ? Date.parse(`${value}T00:00:00Z`) : INSTANT.test(value) ? Date.parse(value) : Number.NaN;
  // Date.parse rolls 2026-02-30 over to March: a day must read back as itself.
  if (Number.isNaN(ms) || (DAY.test(value) && new Date(ms).toISOString().slice(0, 10) !== value))
    fail(`${op}: expects a day (YYYY-MM-DD) or a date-time (2026-03-01T00:00:00Z)`, { operator: op, value });
  return ms;
}

function partial(op: string, value: string): string {
  if ([...value].length < MIN_PARTIAL_LENGTH)
    fail(`${op ? `${op}: ` : ''}"${value}" is too short: give at least ${MIN_PARTIAL_LENGTH} characters`, {
      ...(op ? { operator: op } : {}),
      value,
      min_length: MIN_PARTIAL_LENGTH,
    });
  return value;
}

/** Reads a search; bad syntax, an unknown status or a bad date is an AppError `invalid_search` (400). */
export function parseSearchQuery(input: string): SearchTerms {
  const terms: SearchTerms = {
    to: [],
    from: [],
    subject: [],
    id: [],
    template: [],
    category: [],
    tag: [],
    status: [],
    domain: [],
    words: [],
  };
  const list = tokens(input);
  if (list.length > MAX_TERMS) fail(`At most ${MAX_TERMS} terms`, { max_terms: MAX_TERMS });
  for (const t of list) {
    const value = t.value.trim();
    if (t.op === undefined || !isOperator(t.op)) {
      // An unknown operator is a word, as typed (`10:30`).
      const word = t.op === undefined ? value : `${t.raw.slice(0, t.raw.indexOf(':') + 1)}${t.value}`;
      if (word) terms.words.push(partial('', word));
      continue;
    }
    // An empty value (`to:`) asks for nothing, as in the admin UI.
    if (!value) continue;
    switch (t.op) {
      case 'to':
        terms.to.push(
          WHOLE_ADDRESS.test(value) ? { value, whole: true } : { value: partial('to', value), whole: false },
        );
        break;
      case 'from':
      case 'subject':
      case 'tag':
        terms[t.op].push(partial(t.op, value));
        break;
      case 'domain':
        terms.domain.push(partial('domain', value.replace(/^@/, '')));
        break;
      case 'template':
      case 'category':
        terms[t.op].push(value);
        break;
      case 'status': {
        const s = value.toLowerCase();
        if (!(MESSAGE_STATUSES as readonly string[]).includes(s))
          fail(`status: unknown status "${value}"`, { operator: 'status', value, allowed: MESSAGE_STATUSES });
        terms.status.push(s as MessageStatus);
        break;
      }
      case 'id': {
        // A Message-ID header names the message: <id@domain>.
        const v = value.replace(/^<(.*)>$/, '$1');
        const id = v.toLowerCase().replace(/@.*$/, '');
        if (UUID.test(id)) terms.id.push({ value: id, kind: 'id' });
        else if (ID_PREFIX.test(id) && !v.includes('@')) terms.id.push({ value: id, kind: 'prefix' });
        else terms.id.push({ value: v, kind: 'provider' });
        break;
      }
      case 'after':
      case 'before': {
        const ms = instant(t.op, value);
        terms[t.op] = t.op === 'after' ? Math.max(ms, terms.after ?? ms) : Math.min(ms, terms.before ?? ms);
        break;
      }
    }
  }
  return terms;
}
