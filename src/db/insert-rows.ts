import { CompiledQuery, type Insertable, type Kysely } from 'kysely';
import type { DB } from './schema.js';

/**
 * INSERT of rows that all have the same columns, with its SQL built by Kysely once per table,
 * column list and row count, then reused with new parameters. Building the statement (Kysely's
 * query tree, then its compilation) cost as much CPU as running it for the message rows of the
 * send path, which are the same shape every time. Rows of different shapes
 * (other columns, another order, an undefined value) take Kysely's path.
 */
const statements = new WeakMap<object, Map<string, string>>();

export async function insertRows<T extends keyof DB & string>(db: Kysely<DB>, table: T, rows: Array<Insertable<DB[T]>>): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]!);
  // Kysely leaves out undefined values (the column takes its default): not the same shape either.
  const sameShape = rows.every((r) => {
    const keys = Object.keys(r);
    return keys.length === columns.length && keys.every((k, i) => k === columns[i] && (r as Record<string, unknown>)[k] !== undefined);
  });
  if (!sameShape) {
    await db.insertInto(table).values(rows as never).execute();
    return;
  }
  // Per dialect: the adapter is shared by a Kysely instance and its transactions.
  const adapter = db.getExecutor().adapter;
  let byShape = statements.get(adapter);
  if (!byShape) statements.set(adapter, (byShape = new Map()));
  const key = `${table}\n${columns.join(',')}\n${rows.length}`;
  let text = byShape.get(key);
  if (text === undefined) {
    text = db.insertInto(table).values(rows as never).compile().sql;
    if (byShape.size >= 200) byShape.delete(byShape.keys().next().value!);
    byShape.set(key, text);
  }
  const parameters: unknown[] = [];
  for (const row of rows) for (const c of columns) parameters.push((row as Record<string, unknown>)[c]);
  await db.executeQuery(CompiledQuery.raw(text, parameters));
}
