import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type pino from 'pino';
import { processIdentity, processRunning } from './process-identity.js';
import type { DB } from './db/schema.js';

/**
 * Worker liveness: each worker keeps a row in `workers` fresh (WORKER_HEARTBEAT_SECONDS), so
 * the others can tell a worker that died (SIGKILL, OOM, a lost host) from a slow one within
 * WORKER_DEAD_AFTER_SECONDS, and take its leases over, instead of waiting for them to expire.
 *
 * The beat is one single-row UPDATE on a timer of its own, never on the delivery path. It runs
 * on the worker's own event loop: a worker whose loop is stuck stops beating, and is as good as dead.
 */
export class WorkerHeartbeat {
  private timer: NodeJS.Timeout | null = null;
  private failing = false;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly opts: { id: string; kind: string; heartbeatMs: number; log: pino.Logger },
  ) {}

  /** Beats until stop(), and writes the row now (if that fails, the beats write it when they can). */
  async start(now = Date.now()): Promise<void> {
    this.timer ??= setInterval(() => void this.beat(), this.opts.heartbeatMs);
    this.timer.unref();
    await this.insert(now);
  }

  private insert(now: number) {
    const { id, kind } = this.opts;
    return this.db
      .insertInto('workers')
      .values({
        id,
        host: hostname(),
        pid: process.pid,
        process_start: processIdentity(),
        kind,
        started_at: now,
        heartbeat_at: now,
        stopping: 0,
      })
      .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: now }))
      .execute();
  }

  private async beat(): Promise<void> {
    const now = Date.now();
    try {
      const r = await this.db
        .updateTable('workers')
        .set({ heartbeat_at: now })
        .where('id', '=', this.opts.id)
        .executeTakeFirst();
      // Gone: another worker found this one dead (it was stalled for long) and removed it. It is
      // alive after all: back in the table, so it is not taken for dead again.
      if (Number(r.numUpdatedRows) === 0) await this.insert(now);
      if (this.failing) this.opts.log.info('worker heartbeat written again');
      this.failing = false;
    } catch (err) {
      if (!this.failing)
        this.opts.log.warn({ err }, 'worker heartbeat failed; other workers may take this one for dead');
      this.failing = true;
    }
  }

  /** Draining (SIGTERM): still alive, taking no new work. */
  async markStopping(): Promise<void> {
    await this.db.updateTable('workers').set({ stopping: 1 }).where('id', '=', this.opts.id).execute();
  }

  /** Stops beating and removes the row (its leases have been released or recorded). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.db.deleteFrom('workers').where('id', '=', this.opts.id).execute();
  }
}

/**
 * Workers registered from this host whose process no longer runs (exited, or its pid now names
 * another process): their leases can be taken back at once, without waiting for missed beats.
 */
export async function goneLocalWorkers(db: Kysely<DB>, host: string = hostname()): Promise<string[]> {
  const rows = await db.selectFrom('workers').select(['id', 'pid', 'process_start']).where('host', '=', host).execute();
  return rows.filter((r) => !processRunning(Number(r.pid), r.process_start)).map((r) => r.id);
}

/** Removes the rows of workers found dead, once their leases have been taken over. */
export async function forgetWorkers(db: Kysely<DB>, ids: string[]): Promise<void> {
  if (ids.length) await db.deleteFrom('workers').where('id', 'in', ids).execute();
}

/** Removes rows not heard from since `before`: their leases were taken over long ago. */
export async function pruneWorkers(db: Kysely<DB>, before: number): Promise<void> {
  await db.deleteFrom('workers').where('heartbeat_at', '<', before).execute();
}
