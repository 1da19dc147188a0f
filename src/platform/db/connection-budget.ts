import { type Kysely, sql } from 'kysely';
import { POSTGRES_APPLICATION_NAME } from './database.js';
import type { DB } from './schema.js';

/** What a PostgreSQL server allows ordinary clients, and how many it serves now. */
export interface ServerConnections {
  maxConnections: number;
  /** superuser_reserved_connections, plus reserved_connections (PostgreSQL 16+). */
  reserved: number;
  /** Client connections open now, other than this process's own. */
  inUse: number;
}

export async function serverConnections(db: Kysely<DB>): Promise<ServerConnections> {
  // Every row of pg_stat_activity is visible to any role (only the details of others' are hidden).
  const { rows } = await sql<{ max: number; superuser: number; reserved: number; in_use: number }>`
    select current_setting('max_connections')::int as max,
           current_setting('superuser_reserved_connections')::int as superuser,
           coalesce(current_setting('reserved_connections', true), '0')::int as reserved,
           (select count(*)::int from pg_stat_activity
             where backend_type = 'client backend' and application_name is distinct from ${POSTGRES_APPLICATION_NAME}) as in_use
  `.execute(db);
  const r = rows[0]!;
  return { maxConnections: Number(r.max), reserved: Number(r.superuser) + Number(r.reserved), inUse: Number(r.in_use) };
}

/** Below this many connections left once this process has all it may open, start-up warns. */
export const headroomWarning = (s: ServerConnections) => Math.max(5, Math.ceil(s.maxConnections / 10));

export type BudgetVerdict =
  | { verdict: 'fits'; free: number; left: number }
  | { verdict: 'tight'; free: number; left: number; message: string }
  | { verdict: 'refused'; free: number; message: string };

/**
 * Whether `planned` connections (all that this process and its children may open: see
 * docs/scaling.md) fit in what the server has left for ordinary clients.
 */
export function judgeBudget(planned: { total: number; detail: string }, s: ServerConnections): BudgetVerdict {
  const free = s.maxConnections - s.reserved - s.inUse;
  const server = `max_connections ${s.maxConnections} − ${s.reserved} reserved − ${s.inUse} in use by other clients = ${free} free`;
  if (planned.total > free)
    return {
      verdict: 'refused',
      free,
      message:
        `PostgreSQL cannot take the connections this process may open: ${planned.total} (${planned.detail}), ` +
        `but ${server}. Lower DATABASE_POOL_SIZE, WORKER_DATABASE_POOL_SIZE or API_PROCESSES, stop other clients, ` +
        'or raise max_connections (see docs/scaling.md).',
    };
  const left = free - planned.total;
  if (left < headroomWarning(s))
    return {
      verdict: 'tight',
      free,
      left,
      message: `PostgreSQL connections: this process may open ${planned.total} (${planned.detail}); ${server}, so ${left} would be left for everything else`,
    };
  return { verdict: 'fits', free, left };
}
