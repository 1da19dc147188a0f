import { type RawBuilder, sql } from 'kysely';

/**
 * The right-hand side of `… like` matching values that contain `text` as written: `%`, `_` and
 * the backslash in it are escaped, and the escape character is declared (SQLite has none by
 * default; PostgreSQL's default is the same backslash). For lower-cased columns, pass `text`
 * lower-cased.
 */
export const likeContaining = (text: string): RawBuilder<string> =>
  sql<string>`${`%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`} escape '\\'`;
