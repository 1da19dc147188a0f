import { type Expression, type ExpressionBuilder, type SqlBool, sql } from 'kysely';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import type { SearchTerms } from './search-query.js';

/** What a search needs besides its terms. */
export interface SearchContext {
  dialect: Dialect;
  /** The configured sender (SMTP_FROM_EMAIL): messages with no sender of their own went out as it. */
  defaultFrom: string;
  /** The keyed hash retention gives an address: anonymized messages are found by the whole address. */
  hashAddress(address: string): string;
}

type Eb = ExpressionBuilder<DB, 'email_messages'>;

/** `%fragment%` for LIKE, with the fragment's own wildcards taken literally (backslash escapes). */
const contains = (fragment: string) => `%${fragment.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;

/** An FTS5 string: double quotes doubled. With the trigram tokenizer, a string matches as a substring. */
const ftsString = (s: string) => `"${s.replace(/"/g, '""')}"`;

const inSearch = (match: string) =>
  sql<SqlBool>`email_messages.rowid in (select rowid from message_search where message_search match ${match})`;

/**
 * The terms as a condition on email_messages. On PostgreSQL each fragment is a LIKE over a
 * lowercased column, which its pg_trgm index serves. On SQLite the fragments go to the
 * message_search FTS5 table (trigram: a quoted string matches wherever it occurs, whatever the
 * case) in one MATCH, and the messages are those rowids. See migration 0018.
 */
export function searchCondition(eb: Eb, terms: SearchTerms, ctx: SearchContext): Expression<SqlBool> {
  const and: Expression<SqlBool>[] = [];
  const fts: string[] = [];
  const lite = ctx.dialect === 'sqlite';
  const like = (column: string, fragment: string) =>
    lite
      ? sql<SqlBool>`lower(${sql.ref(column)}) like ${contains(fragment)} escape '\\'`
      : sql<SqlBool>`lower(${sql.ref(column)}) like ${contains(fragment)}`;

  for (const to of terms.to) {
    if (to.whole) {
      const lower = to.value.toLowerCase();
      and.push(eb(sql<string>`lower(recipient_email)`, 'in', [lower, ctx.hashAddress(lower)]));
    } else if (lite) fts.push(`recipient : ${ftsString(to.value)}`);
    else and.push(like('recipient_email', to.value));
  }
  for (const d of terms.domain) {
    // Anywhere after the @: a fragment of the domain matches (`domain:techconnect`).
    const pattern = `%@${contains(d)}`;
    if (lite) fts.push(`recipient : ${ftsString(d)}`);
    and.push(
      lite
        ? sql<SqlBool>`lower(recipient_email) like ${pattern} escape '\\'`
        : sql<SqlBool>`lower(recipient_email) like ${pattern}`,
    );
  }
  for (const f of terms.from) {
    // The configured sender is stored as NULL: it matches when the fragment is in its address.
    const orDefault = ctx.defaultFrom.toLowerCase().includes(f.toLowerCase());
    if (lite && !orDefault) fts.push(`sender : ${ftsString(f)}`);
    else {
      const own = lite ? inSearch(`sender : ${ftsString(f)}`) : like('from_email', f);
      and.push(orDefault ? eb.or([own, eb('from_email', 'is', null)]) : own);
    }
  }
  for (const s of terms.subject) {
    if (lite) fts.push(`subject : ${ftsString(s)}`);
    else and.push(like('subject', s));
  }
  for (const t of terms.tag) {
    // A whole tag, whatever its case: its JSON string in the array, quotes included.
    const json = JSON.stringify(t.toLowerCase());
    if (lite) fts.push(`tags : ${ftsString(json)}`);
    else and.push(sql<SqlBool>`lower(tags) like ${contains(json)}`);
  }
  for (const w of terms.words) {
    if (lite) fts.push(`{recipient subject tags} : ${ftsString(w)}`);
    else and.push(eb.or([like('recipient_email', w), like('subject', w), like('tags', w)]));
  }
  for (const id of terms.id) {
    if (id.kind === 'id') and.push(eb('id', '=', id.value));
    // Ids are lowercase hex and dashes: every id with this prefix sorts between it and it + 'g'.
    else if (id.kind === 'prefix') and.push(eb.and([eb('id', '>=', id.value), eb('id', '<', `${id.value}g`)]));
    else and.push(eb('provider_message_id', '=', id.value));
  }
  for (const t of terms.template) and.push(eb('template_key', '=', t));
  for (const c of terms.category) and.push(eb('category', '=', c));
  for (const s of terms.status) and.push(eb('status', '=', s));
  if (terms.after !== undefined) and.push(eb('created_at', '>=', terms.after));
  if (terms.before !== undefined) and.push(eb('created_at', '<', terms.before));
  if (fts.length > 0) and.push(inSearch(fts.join(' AND ')));
  return eb.and(and);
}
