import {
  type Compilable,
  CompiledQuery,
  type Insertable,
  type Kysely,
  type QueryCreator,
  type QueryResult,
  sql,
} from 'kysely';
import type { DB } from './schema.js';

/**
 * The start of a read's SQL that asks for it to be prepared on PostgreSQL (database.ts names
 * such statements). A comment: SQLite ignores it.
 */
export const PREPARED_READ = '/* prepared */ ';

/** Whether a statement's SQL is a read (unmarked: database.ts then leaves it unnamed). */
export const isRead = (text: string): boolean => /^\s*select\b/i.test(text);

/**
 * Hot statements whose SQL Kysely builds once per shape, then reused with new parameters.
 * Building a statement (Kysely's query tree, then its compilation) cost as much CPU as running
 * it, on the send path that runs the same few statements for every message. Their reads are
 * marked PREPARED_READ: fixed and by key, PostgreSQL prepares them like the writes (planning one
 * was most of its time: docs/benchmarks.md, twentieth session).
 */
const byDialect = new Map<string, Map<string, string>>();
const byDatabase = new WeakMap<Kysely<DB>, Map<string, string>>();

/**
 * The statements of `db`'s SQL dialect. A Kysely instance (a transaction is one too) does not
 * say which dialect it compiles for; a probe compiled by it does: SQLite and PostgreSQL differ in
 * their parameter placeholders (`?`, `$1`).
 */
function textsOf(db: Kysely<DB>): Map<string, string> {
  let texts = byDatabase.get(db);
  if (texts === undefined) {
    const dialect = sql`${sql.ref('probe')} = ${0}`.compile(db).sql;
    texts = byDialect.get(dialect);
    if (texts === undefined) byDialect.set(dialect, (texts = new Map()));
    byDatabase.set(db, texts);
  }
  return texts;
}

/** The SQL of `shape` for this dialect. */
function sqlOf(db: Kysely<DB>, shape: string, build: () => CompiledQuery): string {
  const byShape = textsOf(db);
  let text = byShape.get(shape);
  if (text === undefined) {
    text = build().sql;
    if (isRead(text)) text = PREPARED_READ + text;
    if (byShape.size >= 200) byShape.delete(byShape.keys().next().value!);
    byShape.set(shape, text);
  }
  return text;
}

/**
 * Runs the query `build` makes, whose parameters must be exactly `parameters` in this order;
 * `shape` names everything else that changes its SQL (the length of an IN list, say). The first
 * build is checked against `parameters`, so a query that inlines a value or reorders them fails
 * loudly instead of being reused wrongly.
 */
export async function reusedQuery<R>(
  db: Kysely<DB>,
  shape: string,
  parameters: unknown[],
  build: () => Compilable<R>,
): Promise<R[]> {
  return (await reusedStatement(db, shape, parameters, build)).rows;
}

/** reusedQuery with the whole result (numAffectedRows of an UPDATE). */
export function reusedStatement<R>(
  db: Kysely<DB>,
  shape: string,
  parameters: unknown[],
  build: () => Compilable<R>,
): Promise<QueryResult<R>> {
  const text = sqlOf(db, shape, () => {
    const compiled = build().compile();
    if (compiled.parameters.length !== parameters.length || compiled.parameters.some((p, i) => p !== parameters[i])) {
      throw new Error(`reusedQuery(${shape}): the query's parameters are not the ones given`);
    }
    return compiled;
  });
  return db.executeQuery<R>(CompiledQuery.raw(text, parameters));
}

/** Parameters in one statement, at most (SQLite allows 32,766, PostgreSQL 65,535). */
const MAX_PARAMETERS = 30_000;

/**
 * Whether every row has exactly `columns`, in that order, none undefined (which Kysely would
 * leave out for the column's default): one statement text with positional parameters serves them.
 */
const sameColumns = (rows: Array<Record<string, unknown>>, columns: string[]) =>
  rows.every((r) => {
    const keys = Object.keys(r);
    return keys.length === columns.length && keys.every((k, i) => k === columns[i] && r[k] !== undefined);
  });

/**
 * INSERT of rows that all have the same columns. Rows of different shapes (other columns,
 * another order, an undefined value, which Kysely leaves out for the column's default) take
 * Kysely's path.
 */
export async function insertRows<T extends keyof DB & string>(
  db: Kysely<DB>,
  table: T,
  rows: Array<Insertable<DB[T]>>,
): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  // A batch of many messages is inserted in several statements.
  const most = Math.max(1, Math.min(500, Math.floor(MAX_PARAMETERS / columns.length)));
  if (rows.length > most) {
    for (let i = 0; i < rows.length; i += most) await insertRows(db, table, rows.slice(i, i + most));
    return;
  }
  if (!sameColumns(rows as Array<Record<string, unknown>>, columns)) {
    await db
      .insertInto(table)
      .values(rows as never)
      .execute();
    return;
  }
  const text = sqlOf(db, `insert ${table} (${columns.join(',')}) × ${rows.length}`, () =>
    db
      .insertInto(table)
      .values(rows as never)
      .compile(),
  );
  const parameters: unknown[] = [];
  for (const row of rows) for (const c of columns) parameters.push((row as Record<string, unknown>)[c]);
  await db.executeQuery(CompiledQuery.raw(text, parameters));
}

/** Rows of one table, all of the same columns (as insertRows wants them). */
export interface TableRows<T extends keyof DB & string> {
  table: T;
  rows: Array<Insertable<DB[T]>>;
}

/**
 * PostgreSQL: the rows of several tables in one statement (each table but the last inserted by a
 * CTE, in order), so one round trip instead of one per table; a table's rows may reference an
 * earlier table's (foreign keys are checked at the end of the statement). Tables without rows are
 * left out. Rows of other shapes, or too many for one statement, take one insertRows per table.
 * Only for PostgreSQL: SQLite has no INSERT inside WITH.
 */
export async function insertRowsTogether(
  db: Kysely<DB>,
  ...tables: Array<TableRows<keyof DB & string>>
): Promise<void> {
  const present = tables.filter((t) => t.rows.length > 0);
  const rowsOf = present.map((t) => t.rows as Array<Record<string, unknown>>);
  const columnsOf = rowsOf.map((rows) => Object.keys(rows[0]!));
  if (
    present.length < 2 ||
    rowsOf.reduce((n, rows, i) => n + rows.length * columnsOf[i]!.length, 0) > MAX_PARAMETERS ||
    rowsOf.some((rows, i) => !sameColumns(rows, columnsOf[i]!))
  ) {
    for (const t of present) await insertRows(db, t.table, t.rows);
    return;
  }
  const parameters: unknown[] = [];
  rowsOf.forEach((rows, i) => {
    for (const row of rows) for (const c of columnsOf[i]!) parameters.push(row[c]);
  });
  const shape = `insert together ${present.map((t, i) => `${t.table} (${columnsOf[i]!.join(',')}) × ${t.rows.length}`).join(' then ')}`;
  const last = present[present.length - 1]!;
  await reusedStatement(db, shape, parameters, () => {
    // Each CTE's name says its place: rows_1, rows_2… (names only the statement itself sees).
    let q = db as unknown as QueryCreator<DB>;
    present.slice(0, -1).forEach((t, i) => {
      q = q.with(`rows_${i + 1}`, (c) => c.insertInto(t.table).values(t.rows as never)) as unknown as QueryCreator<DB>;
    });
    return q.insertInto(last.table).values(last.rows as never);
  });
}
