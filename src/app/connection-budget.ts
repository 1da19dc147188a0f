import type pino from 'pino';
import type { Config } from '../platform/config.js';
import { judgeBudget, serverConnections } from '../platform/db/connection-budget.js';
import { INGEST_POOL_SIZE } from './ingest-thread.js';
import type { Platform } from './platform.js';
import { OperatorError } from './operator-error.js';

/**
 * The most PostgreSQL connections one `postier` command opens, itself and its children (the
 * formula of docs/scaling.md): each pool is lazy, so this is a ceiling, reached under load.
 * - the process's pool: DATABASE_POOL_SIZE (API, migrations, a worker in the process's own
 *   loop, retention, webhooks, capture: all share it);
 * - `postier serve` with its delivery thread (WORKER_THREAD, the default): + WORKER_DATABASE_POOL_SIZE;
 * - API_PROCESSES = N > 1: + N × DATABASE_POOL_SIZE (each HTTP process has its own pool; the
 *   primary's worker runs in the primary's loop, on its pool);
 * - the SMTP submission listener with its ingester thread (SUBMISSION_INGEST_THREAD, the
 *   default on PostgreSQL): + INGEST_POOL_SIZE.
 */
export function plannedConnections(
  config: Config,
  opts: { api: boolean; worker: boolean; submissionOnly?: boolean },
): { total: number; detail: string } {
  const base = processConnections(config, opts);
  // The SMTP submission listener runs beside the API (in the main process of a cluster) or alone.
  const ingester =
    config.submission.enabled && config.submission.ingestThread && (opts.api || opts.submissionOnly)
      ? INGEST_POOL_SIZE
      : 0;
  if (ingester === 0) return base;
  return { total: base.total + ingester, detail: `${base.detail} + ${ingester} (submission ingester thread)` };
}

function processConnections(
  config: Config,
  opts: { api: boolean; worker: boolean; submissionOnly?: boolean },
): { total: number; detail: string } {
  const pool = config.databasePoolSize;
  if (opts.api && config.apiProcesses > 1)
    return {
      total: pool * (1 + config.apiProcesses),
      detail: `DATABASE_POOL_SIZE ${pool} × (1 primary + API_PROCESSES ${config.apiProcesses})`,
    };
  if (opts.api && opts.worker && config.worker.thread)
    return {
      total: pool + config.workerDatabasePoolSize,
      detail: `DATABASE_POOL_SIZE ${pool} + WORKER_DATABASE_POOL_SIZE ${config.workerDatabasePoolSize} (delivery thread)`,
    };
  return { total: pool, detail: `DATABASE_POOL_SIZE ${pool}` };
}

export class ConnectionBudgetError extends OperatorError {}

/** On PostgreSQL, refuses to start a process whose connections would not fit; warns when little would be left. */
export async function checkConnectionBudget(
  p: Pick<Platform, 'db' | 'dialect' | 'config'>,
  opts: { api: boolean; worker: boolean; submissionOnly?: boolean },
  log: pino.Logger,
): Promise<void> {
  if (p.dialect !== 'postgres') return;
  const planned = plannedConnections(p.config, opts);
  const verdict = judgeBudget(planned, await serverConnections(p.db));
  if (verdict.verdict === 'refused') throw new ConnectionBudgetError(verdict.message);
  if (verdict.verdict === 'tight') log.warn(verdict.message);
  else log.info({ planned: planned.total, free: verdict.free }, 'PostgreSQL connections fit');
}
