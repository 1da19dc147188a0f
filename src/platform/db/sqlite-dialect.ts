import {
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import { SqliteDriver, type SqliteDriverOptions } from './sqlite-driver.js';

/**
 * Kysely's SQLite dialect with Postier's own driver (group commit's durability, lock waiting,
 * statement reuse: see SqliteDriver); SQL is compiled, adapted and introspected by Kysely's own
 * SQLite parts.
 */
export class PostierSqliteDialect implements Dialect {
  constructor(private readonly options: SqliteDriverOptions) {}

  createDriver(): Driver {
    return new SqliteDriver(this.options);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  // biome-ignore lint/suspicious/noExplicitAny: the Dialect interface declares Kysely<any>
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
