import path from 'node:path';
import { type Kysely, sql } from 'kysely';
import type { Config } from '../../platform/config.js';
import { openDatabase } from '../../platform/db/database.js';
import type { DB } from '../../platform/db/schema.js';
import type { Wired } from '../wiring.js';
import { OperatorError } from '../operator-error.js';

/**
 * An operator's command that gave up waiting for a lock another session holds: DB_LOCK_WAIT_SECONDS
 * ran out (SQLite's write lock, or PostgreSQL's lock_timeout). main.ts prints its one line and
 * exits 2, as for the other conditions of the database or the configuration that the operator
 * (not the command's arguments) must see to.
 */
export class LockWaitError extends OperatorError {
  constructor(message: string) {
    super(message);
    this.name = 'LockWaitError';
  }
}

/** SQLITE_BUSY (the write lock), or PostgreSQL's lock_not_available (lock_timeout), here or in a cause. */
export function isLockWait(error: unknown): boolean {
  for (let e = error, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === '55P03' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY'))) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

interface Holder {
  pid: number;
  app: string | null;
  state: string | null;
  seconds: number;
  tables: string;
}

/**
 * PostgreSQL sessions that have been in a transaction for longer than the wait, holding locks on
 * tables of Postier's schema: the likely holders (the lock the statement waited for is not named
 * by the error, and its wait is over). Best effort: none found (or pg_stat_activity hidden from
 * this role) leaves the generic hint.
 */
async function postgresHolders(db: Kysely<DB>, seconds: number): Promise<Holder[]> {
  try {
    const { rows } = await sql<Holder>`
      select a.pid, nullif(a.application_name, '') as app, a.state,
             floor(extract(epoch from clock_timestamp() - a.xact_start))::int as seconds,
             string_agg(distinct c.relname, ', ' order by c.relname) as tables
        from pg_locks l
        join pg_class c on c.oid = l.relation
        join pg_stat_activity a on a.pid = l.pid
       where l.granted and l.pid <> pg_backend_pid()
         and c.relnamespace = (select oid from pg_namespace where nspname = current_schema())
         and a.xact_start <= clock_timestamp() - make_interval(secs => ${seconds})
       group by a.pid, a.application_name, a.state, a.xact_start
       order by a.xact_start
       limit 3`.execute(db);
    return rows;
  } catch {
    return [];
  }
}

const seconds = (n: number) => `${n} s`;

/** The one line an operator gets for a lock wait that ran out (`s`: the command's services, if it got that far). */
export async function lockWaitError(config: Config, s: Wired | undefined): Promise<LockWaitError> {
  const budget = config.dbLockWaitSeconds;
  const gaveUp = `Gave up after ${seconds(budget)} (DB_LOCK_WAIT_SECONDS) waiting for a database lock`;
  if (config.databaseUrl.startsWith('sqlite:')) {
    const file = path.resolve(config.databaseUrl.slice('sqlite:'.length));
    return new LockWaitError(
      `${gaveUp}: another process or connection is writing to ${file} (SQLite's write lock). Try again when it is done, or raise DB_LOCK_WAIT_SECONDS.`,
    );
  }
  let holders: Holder[] = [];
  if (s) holders = await postgresHolders(s.db, budget);
  else {
    // Stopped while starting (migrating, seeding): a connection of its own to look.
    try {
      const own = openDatabase(config.databaseUrl, { poolSize: 1, lockTimeoutMs: budget * 1000 });
      holders = await postgresHolders(own.db, budget);
      await own.close();
    } catch {
      // no holder named: the generic hint
    }
  }
  if (holders.length === 0)
    return new LockWaitError(
      `${gaveUp} that another PostgreSQL session holds. Try again when it is done, or find it in pg_locks and pg_stat_activity.`,
    );
  const named = holders
    .map(
      (h) =>
        `session ${h.pid} (${h.app ?? 'no application_name'}, ${h.state ?? 'state hidden'}, in a transaction for ${seconds(h.seconds)}) holds ${h.tables}`,
    )
    .join('; ');
  return new LockWaitError(
    `${gaveUp}: PostgreSQL ${named}. Try again when it ends its transaction (or end it: SELECT pg_terminate_backend(${holders[0]!.pid})).`,
  );
}
