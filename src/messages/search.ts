import { type Expression, type ExpressionBuilder, type SqlBool, sql } from 'kysely';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import type { SearchTerms } from './search-query.js';
import { isAsciiFragment, type SearchColumn, type TrigramSample } from './trigram-sample.js';

/** What a search needs besides its terms. */
export interface SearchContext {
  dialect: Dialect;
  /** The configured sender (SMTP_FROM_EMAIL): messages with no sender of their own went out as it. */
  defaultFrom: string;
  /** The keyed hash retention gives an address: anonymized messages are found by the whole address. */
  hashAddress(address: string): string;
  /** SQLite: which trigrams of a fragment are rare enough to look up (see trigram-sample.ts). */
  trigrams?: TrigramSample;
}

type Eb = ExpressionBuilder<DB, 'email_messages'>;

/** `%fragment%` for LIKE, with the fragment's own wildcards taken literally (backslash escapes). */
const contains = (fragment: string) => `%${fragment.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;

/** An FTS5 string: double quotes doubled. With the trigram tokenizer, a string matches as a substring. */
const ftsString = (s: string) => `"${s.replace(/"/g, '""')}"`;

const inSearch = (match: string) =>
  sql<SqlBool>`email_messages.rowid in (select rowid from message_search where message_search match ${match})`;

/** The configured sender is stored as NULL: a `from:` fragment in its address matches those too. */
const orDefault = (ctx: SearchContext, fragment: string) =>
  ctx.defaultFrom.toLowerCase().includes(fragment.toLowerCase());

/** A fragment the FTS5 table answers, and the columns it is looked for in. */
interface FtsPart {
  columns: readonly SearchColumn[];
  fragment: string;
}

/** The message's own column for each column of message_search (its values, as the triggers copy them). */
const COLUMN: Record<SearchColumn, string> = {
  recipient: 'recipient_email',
  sender: 'from_email',
  subject: 'subject',
  tags: 'tags',
};
const WORD_COLUMNS = ['recipient', 'subject', 'tags'] as const;

function ftsParts(terms: SearchTerms, ctx: SearchContext): FtsPart[] {
  return [
    ...terms.to.filter((t) => !t.whole).map((t) => ({ columns: ['recipient'] as const, fragment: t.value })),
    ...terms.domain.map((d) => ({ columns: ['recipient'] as const, fragment: d })),
    ...terms.from.filter((f) => !orDefault(ctx, f)).map((f) => ({ columns: ['sender'] as const, fragment: f })),
    ...terms.subject.map((s) => ({ columns: ['subject'] as const, fragment: s })),
    // A whole tag, whatever its case: its JSON string in the array, quotes included.
    ...terms.tag.map((t) => ({ columns: ['tags'] as const, fragment: JSON.stringify(t.toLowerCase()) })),
    ...terms.words.map((w) => ({ columns: WORD_COLUMNS, fragment: w })),
  ];
}

/**
 * SQLite: whether every fragment is plain ASCII, so that the LIKE tests on the message itself
 * (fragmentsOnRow) decide alone what matches, and a list may be read without message_search.
 */
export const fragmentsAllOnRow = (terms: SearchTerms, ctx: SearchContext): boolean =>
  ftsParts(terms, ctx).every((p) => isAsciiFragment(p.fragment));

/** Whether the terms hold a fragment (a part of an address, subject, tag or word) that the FTS5 table answers. */
export const hasFragments = (terms: SearchTerms, ctx: SearchContext): boolean => ftsParts(terms, ctx).length > 0;

/**
 * SQLite: the terms that the message_search FTS5 table answers, as one MATCH (trigram: a quoted
 * string matches wherever it occurs, whatever the case); null when there is none, or on
 * PostgreSQL. See migration 0018. A fragment with rare trigrams is looked up by those only (a
 * short list each) and then tested on the message itself (searchCondition's LIKE): the
 * fragment's common trigrams would make FTS5 read most of the archive.
 */
export function ftsMatch(terms: SearchTerms, ctx: SearchContext): string | null {
  if (ctx.dialect !== 'sqlite') return null;
  const fts = ftsParts(terms, ctx).map(({ columns, fragment }) => {
    const spec = columns.length === 1 ? columns[0]! : `{${columns.join(' ')}}`;
    const rare = ctx.trigrams?.rarest(columns, fragment);
    return rare ? `${spec} : (${rare.map(ftsString).join(' AND ')})` : `${spec} : ${ftsString(fragment)}`;
  });
  return fts.length ? fts.join(' AND ') : null;
}

/**
 * SQLite: each ASCII fragment tested on the message's own columns, whether the MATCH looked it up
 * whole or by some of its trigrams: the same answer either way, and a sample taken between two
 * queries of one request cannot change it.
 */
function fragmentsOnRow(terms: SearchTerms, ctx: SearchContext): Expression<SqlBool>[] {
  return ftsParts(terms, ctx)
    .filter((p) => isAsciiFragment(p.fragment))
    .map(({ columns, fragment }) => {
      const tests = columns.map(
        (c) => sql<SqlBool>`${sql.ref(`email_messages.${COLUMN[c]}`)} like ${contains(fragment)} escape '\\'`,
      );
      return tests.length === 1 ? tests[0]! : sql<SqlBool>`(${sql.join(tests, sql` or `)})`;
    });
}

/**
 * SQLite, which keeps no statistics: which equality conditions must not choose the index. Its
 * planner prefers any index whose first column is compared with `=`: `status = 'delivered'` took
 * email_messages_due (status, …) over the recipient's index and sorted every delivered message
 * of the archive for one recipient's page. Written `+status`, a condition is still tested but
 * cannot choose an index (SQLite's documented way, "the unary + operator").
 */
export interface Steering {
  status: boolean;
  template: boolean;
  /** email_messages_category (category, id), migration 0025. */
  category?: boolean;
}

/** The column as a condition's left side: on SQLite, `+column` when it must not choose the index. */
export const steered = (column: 'status' | 'template_key' | 'category', off: boolean | undefined) =>
  off ? sql<string>`+${sql.ref(column)}` : sql<string>`${sql.ref(column)}`;

/**
 * The terms as a condition on email_messages. On PostgreSQL each fragment is a LIKE over a
 * lowercased column, which its pg_trgm index serves. On SQLite the fragments are ftsMatch's,
 * as `rowid in (…)` unless `withoutMatch` (the caller reads message_search itself).
 */
export function searchCondition(
  eb: Eb,
  terms: SearchTerms,
  ctx: SearchContext,
  withoutMatch = false,
  steering?: Steering,
): Expression<SqlBool> {
  const and: Expression<SqlBool>[] = [];
  const lite = ctx.dialect === 'sqlite';
  const like = (column: string, fragment: string) => sql<SqlBool>`lower(${sql.ref(column)}) like ${contains(fragment)}`;

  for (const to of terms.to) {
    if (to.whole) {
      const lower = to.value.toLowerCase();
      and.push(eb(sql<string>`lower(recipient_email)`, 'in', [lower, ctx.hashAddress(lower)]));
    } else if (!lite) and.push(like('recipient_email', to.value));
  }
  for (const d of terms.domain) {
    // After the @ only (the FTS5 string on SQLite finds it anywhere in the address).
    const pattern = `%@${contains(d)}`;
    and.push(
      lite
        ? sql<SqlBool>`lower(recipient_email) like ${pattern} escape '\\'`
        : sql<SqlBool>`lower(recipient_email) like ${pattern}`,
    );
  }
  for (const f of terms.from) {
    if (!orDefault(ctx, f)) {
      if (!lite) and.push(like('from_email', f));
      continue;
    }
    const own = lite ? inSearch(`sender : ${ftsString(f)}`) : like('from_email', f);
    and.push(eb.or([own, eb('from_email', 'is', null)]));
  }
  if (!lite) {
    for (const s of terms.subject) and.push(like('subject', s));
    for (const t of terms.tag) and.push(sql<SqlBool>`lower(tags) like ${contains(JSON.stringify(t.toLowerCase()))}`);
    for (const w of terms.words) and.push(eb.or([like('recipient_email', w), like('subject', w), like('tags', w)]));
  }
  for (const id of terms.id) {
    if (id.kind === 'id') and.push(eb('id', '=', id.value));
    // Ids are lowercase hex and dashes: every id with this prefix sorts between it and it + 'g'.
    else if (id.kind === 'prefix') and.push(eb.and([eb('id', '>=', id.value), eb('id', '<', `${id.value}g`)]));
    else and.push(eb('provider_message_id', '=', id.value));
  }
  for (const t of terms.template) and.push(eb(steered('template_key', steering?.template), '=', t));
  for (const c of terms.category) and.push(eb(steered('category', steering?.category), '=', c));
  for (const s of terms.status) and.push(eb(steered('status', steering?.status), '=', s));
  if (terms.after !== undefined) and.push(...createdSince(eb, terms.after));
  if (terms.before !== undefined) and.push(...createdBefore(eb, terms.before));
  const match = withoutMatch ? null : ftsMatch(terms, ctx);
  if (match !== null) and.push(inSearch(match));
  if (lite) and.push(...fragmentsOnRow(terms, ctx));
  return eb.and(and);
}

/**
 * The smallest UUIDv7 of the millisecond `ms` (a message's id carries the time it was accepted,
 * as created_at does, within milliseconds). Bounding the id as well as the time lets a date range
 * walk an index ordered by id (the primary key, `(template_key, id)`, `(lower(recipient_email),
 * id)`) instead of reading every row of the template or recipient to test its time. An hour of
 * margin on each side: the created_at condition stays the exact one.
 */
const ID_MARGIN_MS = 3_600_000;
export function idFloor(ms: number): string {
  const h = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-0000-0000-000000000000`;
}

export const createdSince = (eb: Eb, ms: number): Expression<SqlBool>[] => [
  eb('created_at', '>=', ms),
  eb('id', '>=', idFloor(ms - ID_MARGIN_MS)),
];
export const createdBefore = (eb: Eb, ms: number): Expression<SqlBool>[] => [
  eb('created_at', '<', ms),
  eb('id', '<', idFloor(ms + ID_MARGIN_MS)),
];
