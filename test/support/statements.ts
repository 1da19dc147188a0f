import type { Kysely, KyselyPlugin, QueryId } from 'kysely';

/** A statement as it was sent; `sql` is null for one compiled before the recording began (a reused query). */
export interface RecordedStatement {
  sql: string | null;
  parameters: readonly unknown[];
}

/**
 * `db` with every statement it runs recorded once it has answered (a statement that fails is not):
 * for tests that count a path's round trips or explain the query it ran. Queries compiled once
 * and run again (platform/db/reused-sql.ts) count at each run.
 */
export function recordStatements<DB>(db: Kysely<DB>): { db: Kysely<DB>; statements: RecordedStatement[] } {
  const statements: RecordedStatement[] = [];
  const compiled = new WeakMap<QueryId, RecordedStatement>();
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      const q = db.getExecutor().compileQuery(args.node, args.queryId);
      compiled.set(args.queryId, { sql: q.sql, parameters: q.parameters });
      return args.node;
    },
    async transformResult(args) {
      statements.push(compiled.get(args.queryId) ?? { sql: null, parameters: [] });
      return args.result;
    },
  };
  return { db: db.withPlugin(plugin), statements };
}
