import { type Kysely, type Transaction, sql } from 'kysely';
import { oncePerTurn } from '../once-per-turn.js';
import { DEFAULT_LOCK_WAIT_MS, type Dialect } from './database.js';
import type { DB } from './schema.js';
import { lockWaitExpired } from './sqlite-connection.js';

type Work<T> = (trx: Transaction<DB>) => Promise<T>;
interface Pending {
  work: Work<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  /** performance.now() at which the unit stops waiting for the write lock. */
  deadline: number;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** A unit of a batch run without savepoints threw: the transaction is rolled back, the batch run again isolated. */
class UnitFailed extends Error {
  constructor(readonly error: unknown) {
    super('a unit of the batch failed');
  }
}

/**
 * The usual case: every unit succeeds. No savepoint: each would make SQLite copy every page a
 * unit touches into a statement journal first (a third of the statements' time on the accept
 * path, measured), only to throw it away at RELEASE.
 */
async function runTogether(trx: Transaction<DB>, batch: Pending[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const unit of batch) {
    try {
      outcomes.push({ ok: true, value: await unit.work(trx) });
    } catch (error) {
      throw new UnitFailed(error);
    }
  }
  return outcomes;
}

/** Each unit in its own savepoint: one that fails is rolled back alone, the others commit. */
async function runIsolated(trx: Transaction<DB>, batch: Pending[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const unit of batch) {
    await sql`savepoint unit`.execute(trx);
    try {
      outcomes.push({ ok: true, value: await unit.work(trx) });
      await sql`release savepoint unit`.execute(trx);
    } catch (error) {
      try {
        await sql`rollback to savepoint unit`.execute(trx);
        await sql`release savepoint unit`.execute(trx);
      } catch {
        // SQLite rolled the whole transaction back by itself (SQLITE_FULL, SQLITE_IOERR): the
        // batch fails, with the real cause rather than "no such savepoint".
        throw error;
      }
      outcomes.push({ ok: false, error });
    }
  }
  return outcomes;
}

export interface CommitQueueOptions {
  /** How long a unit may wait for SQLite's write lock, from its submission: the database's own budget (DB_LOCK_WAIT_SECONDS). */
  lockWaitMs?: number;
  /** Most units in one commit. */
  maxBatch?: number;
  /** The WAL fsync in flight, if one is: a batch waits for it before it commits (see flush). */
  syncing?: () => Promise<void> | null;
}

/**
 * Runs units of work in transactions, sharing one commit among concurrent callers on SQLite.
 *
 * SQLite has one writer at a time, and every commit must reach the disk before its callers
 * hear of it. Units that arrive in the same event-loop turn are committed together. They run
 * without savepoints; if one throws, the transaction is rolled back and the batch runs again with
 * each unit in its own savepoint, so a failing unit rolls back alone (a unit may therefore run
 * twice: its work must only write through the transaction, as every unit here does; event
 * subscribers may count a rolled-back run, see EventLog). The fsync that makes a commit durable
 * runs off the event loop after the connection is handed on (see WalSync); a batch that comes
 * while an fsync is in flight waits for it to end, then commits with every unit that came
 * meanwhile (see flush), and one fsync covers every commit made before it started. Nobody is
 * answered before the fsync that covers their rows has returned.
 * PostgreSQL commits concurrently on its own pool, so each unit gets its own transaction.
 *
 * The lock budget is per unit, counted from its submission: while a batch waits for the write
 * lock (another connection holds it), units that arrive join it rather than queue behind it,
 * and a unit whose budget is spent before the lock comes is rejected with SQLITE_BUSY (the API's
 * 503) while the others keep waiting. Nobody waits for two budgets, whatever was ahead of them.
 */
export class CommitQueue {
  /** In submission order, so in deadline order. */
  private pending: Pending[] = [];
  private readonly schedule = oncePerTurn(() => this.flush());
  /** A batch waits for the connection or the write lock: it takes whatever is pending once it has them. */
  private waiting = false;
  private expiry: NodeJS.Timeout | null = null;
  private readonly lockWaitMs: number;
  private readonly maxBatch: number;
  private readonly syncing: () => Promise<void> | null;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly dialect: Dialect,
    options: CommitQueueOptions = {},
  ) {
    this.lockWaitMs = options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
    this.maxBatch = options.maxBatch ?? 256;
    this.syncing = options.syncing ?? (() => null);
  }

  run<T>(work: Work<T>): Promise<T> {
    if (this.dialect !== 'sqlite') return this.db.transaction().execute(work);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        work,
        resolve: resolve as (v: unknown) => void,
        reject,
        deadline: performance.now() + this.lockWaitMs,
      });
      if (this.expiry === null) this.watchDeadlines();
      // Wait for the end of this event-loop turn: every request whose body arrived in the same
      // poll phase joins the batch. Flushing at once would commit them one by one, because
      // better-sqlite3 runs the whole transaction before the loop reads the next socket.
      this.schedule();
    });
  }

  private flush(): void {
    if (this.waiting || this.pending.length === 0) return;
    this.waiting = true;
    // While the WAL fsync of an earlier batch runs, nobody new can be answered before the next
    // fsync anyway: the batch waits for this one to end and then takes everything that came
    // meanwhile, in one commit instead of one per event-loop turn. Each commit writes every page it
    // touched to the WAL on the event loop (two pwrites a page), and consecutive inserts share their
    // index pages: SMTP submission went from 1.5 to 2.3 messages a commit and spent 10 % less CPU.
    const syncing = this.syncing();
    if (syncing === null) void this.commitBatch();
    else void syncing.then(() => this.commitBatch());
  }

  private async commitBatch(): Promise<void> {
    // Taken once the transaction began (assigned in its callback).
    let batch = null as Pending[] | null;
    let outcomes: Outcome[];
    try {
      outcomes = await this.db.transaction().execute(async (trx) => {
        // The write lock is ours: everyone still pending joins, the rest make the next batch.
        this.waiting = false;
        batch = this.pending.splice(0, this.maxBatch);
        if (this.pending.length > 0) this.schedule();
        return runTogether(trx, batch);
      });
    } catch (error) {
      if (!batch) {
        // The lock never came within the lease's budget, or the transaction could not begin.
        this.waiting = false;
        this.rejectWaiting(error);
        if (this.pending.length > 0) this.schedule();
        return;
      }
      const units = batch as Pending[];
      if (!(error instanceof UnitFailed) || units.length === 1) {
        // The commit itself failed (disk full, I/O error), or the batch's only unit did: nothing
        // of the batch is stored.
        const cause = error instanceof UnitFailed ? error.error : error;
        for (const unit of units) unit.reject(cause);
        if (this.pending.length > 0) this.schedule();
        return;
      }
      // A unit failed and the whole transaction was rolled back: the batch runs again, each unit
      // in its own savepoint, so the failure stays with the unit that caused it.
      try {
        outcomes = await this.db.transaction().execute((trx) => runIsolated(trx, units));
      } catch (again) {
        for (const unit of units) unit.reject(again);
        return;
      } finally {
        if (this.pending.length > 0) this.schedule();
      }
    }
    if (this.pending.length > 0) this.schedule();
    batch!.forEach((unit, i) => {
      const o = outcomes[i]!;
      if (o.ok) unit.resolve(o.value);
      else unit.reject(o.error);
    });
  }

  /**
   * A batch could not begin. On a busy lock, its lease had the budget of the oldest unit then
   * pending, now spent: those units fail, later ones wait on with what is left of theirs. Any
   * other error (storage unavailable) fails every unit waiting.
   */
  private rejectWaiting(error: unknown): void {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) this.expire();
    else for (const unit of this.pending.splice(0)) unit.reject(error);
  }

  /** Rejects the units whose lock budget is spent. */
  private expire(): void {
    const now = performance.now();
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.deadline <= now) n++;
    for (const unit of this.pending.splice(0, n)) unit.reject(lockWaitExpired(this.lockWaitMs));
  }

  /** One timer, for the oldest pending unit's deadline (it fires rarely: batches usually take units long before). */
  private watchDeadlines(): void {
    const oldest = this.pending[0];
    if (!oldest) return;
    this.expiry = setTimeout(
      () => {
        this.expiry = null;
        this.expire();
        this.watchDeadlines();
      },
      Math.max(0, oldest.deadline - performance.now()),
    );
    this.expiry.unref();
  }
}
