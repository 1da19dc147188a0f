import type { Kysely, Transaction } from 'kysely';
import type { Dialect } from '../platform/db/database.js';
import { tryLock } from '../platform/db/locks.js';
import type { DB } from '../platform/db/schema.js';
import { newId } from '../platform/ids.js';
import { isSubscribable, statusAfter } from './event-types.js';

const CURSOR = 'webhooks';
const LOCK = 'webhooks.enqueue';
const LOCK_TTL_MS = 30_000;
/** Events read per query; a pass reads on until it has caught up. */
const BATCH = 1000;
const INSERT_CHUNK = 500;
/**
 * How long a gap in the event ids may stay before it is taken for a rolled-back insert. The
 * documented assumption: a transaction that records events commits within this time of its
 * insert (they are all short: an accept, a batch of delivery results, one SNS notification).
 */
export const GAP_WINDOW_MS = 30_000;

export interface EnqueuerOptions {
  owner: string;
  gapWindowMs?: number;
}

interface Endpoint {
  id: string;
  types: Set<string>;
  createdAt: number;
}

/**
 * The webhook tail's lock point, taken first in its transaction by each pass that builds deliveries
 * and by an erasure: a pass reads the events and messages it makes payloads of after an erasure
 * committed, or commits its deliveries before the erasure starts (which then hashes them). Without
 * it a pass could read an address, the erasure commit, and the pass insert it in clear. On SQLite
 * every transaction holds the one write lock (BEGIN IMMEDIATE): taking a transaction is enough.
 * Returns the cursor's position (null when its row is missing).
 */
export async function holdWebhookTail(trx: Transaction<DB>, dialect: Dialect): Promise<number | null> {
  const q = trx.selectFrom('event_cursors').select('position').where('name', '=', CURSOR);
  const row = await (dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirst();
  return row ? Number(row.position) : null;
}

/**
 * Turns the events endpoints subscribed to into webhook deliveries by reading email_events in id
 * order from a cursor kept in the database (event_cursors), never inside the transaction that
 * recorded them: nothing here can slow or abort a send, a delivery result or a bounce, and an
 * event is announced only once it has committed.
 *
 * One process tails at a time (a job_locks lease). A delivery is unique per (endpoint, event)
 * and the cursor moves only from where this pass read it, in the transaction that inserts the
 * deliveries, so even two tailers (a lease lost during a stall) enqueue each event once.
 *
 * PostgreSQL hands out ids in allocation order but transactions commit in any order: id 41 may
 * become visible after id 42. The tail stops before a gap and waits for it; a gap still there
 * GAP_WINDOW_MS after this tailer first saw it is an insert that rolled back, and is passed. (The
 * tailer's own clock: hosts whose clocks disagree do not shorten the wait.) SQLite has one writer
 * and AUTOINCREMENT ids, which become visible in order: no gap is ever waited for.
 *
 * An endpoint hears the events recorded from its creation on, while it is active when the tail
 * reads them. With no active endpoint the cursor moves to the end of the log.
 */
export class WebhookEnqueuer {
  private heldUntil = 0;
  /** The first id after the gap the tail is waiting at, and since when this tailer sees it. */
  private gap: { before: number; since: number } | null = null;
  private readonly gapWindowMs: number;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly dialect: Dialect,
    private readonly opts: EnqueuerOptions,
  ) {
    this.gapWindowMs = opts.gapWindowMs ?? GAP_WINDOW_MS;
  }

  /** One pass: reads what was committed since the cursor; returns how many deliveries it created. */
  async run(now = Date.now()): Promise<number> {
    if (!(await this.lease())) return 0;
    const endpoints = await this.activeEndpoints();
    let created = 0;
    for (;;) {
      const cursor = await this.cursor();
      if (endpoints.length === 0) {
        const last = await this.db
          .selectFrom('email_events')
          .select((eb) => eb.fn.max('id').as('id'))
          .executeTakeFirst();
        const end = Number(last?.id ?? 0);
        if (end > cursor) await this.advance(cursor, end, [], []);
        return created;
      }
      const rows = await this.db
        .selectFrom('email_events')
        .select(['id', 'type', 'created_at'])
        .where('id', '>', cursor)
        .orderBy('id')
        .limit(BATCH)
        .execute();
      const end = this.readableEnd(cursor, rows, now);
      if (end === cursor) return created;
      const wanted = rows
        .filter((r) => Number(r.id) <= end && isSubscribable(r.type) && endpoints.some((ep) => ep.types.has(r.type)))
        .map((r) => Number(r.id));
      created += await this.advance(cursor, end, wanted, endpoints);
      if (end < Number(rows[rows.length - 1]!.id) || rows.length < BATCH) return created;
    }
  }

  /** The lease is renewed when half of it is gone; held, it costs no query. */
  private async lease(): Promise<boolean> {
    const now = Date.now();
    if (now < this.heldUntil - LOCK_TTL_MS / 2) return true;
    if (!(await tryLock(this.db, LOCK, this.opts.owner, LOCK_TTL_MS, now))) return false;
    this.heldUntil = now + LOCK_TTL_MS;
    return true;
  }

  private async activeEndpoints(): Promise<Endpoint[]> {
    const rows = await this.db
      .selectFrom('webhook_endpoints')
      .select(['id', 'event_types', 'created_at'])
      .where('is_active', '=', 1)
      .execute();
    return rows.map((ep) => ({
      id: ep.id,
      types: new Set(JSON.parse(ep.event_types) as string[]),
      createdAt: Number(ep.created_at),
    }));
  }

  private async cursor(): Promise<number> {
    const row = await this.db
      .selectFrom('event_cursors')
      .select('position')
      .where('name', '=', CURSOR)
      .executeTakeFirst();
    if (row) return Number(row.position);
    // The migration creates it; a database restored without it starts at the end of the log.
    const last = await this.db
      .selectFrom('email_events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    await this.db
      .insertInto('event_cursors')
      .values({ name: CURSOR, position: Number(last?.id ?? 0), updated_at: Date.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    return this.cursor();
  }

  /** The last id of `rows` (ids after `cursor`, in order) that can be handled now: before any gap still waited for. */
  private readableEnd(cursor: number, rows: Array<{ id: number }>, now: number): number {
    let end = cursor;
    for (const r of rows) {
      const id = Number(r.id);
      if (this.dialect === 'postgres' && id !== end + 1) {
        if (this.gap?.before !== id) this.gap = { before: id, since: now };
        if (now - this.gap.since < this.gapWindowMs) break;
      }
      end = id;
    }
    if (this.gap && end >= this.gap.before) this.gap = null;
    return end;
  }

  private async deliveries(trx: Transaction<DB>, ids: number[], endpoints: Endpoint[]) {
    const events = await trx
      .selectFrom('email_events as e')
      .leftJoin('email_messages as m', 'm.id', 'e.message_id')
      .select([
        'e.id',
        'e.message_id',
        'e.type',
        'e.created_at',
        'e.data',
        'm.recipient_email',
        'm.template_key',
        'm.category',
        'm.class',
        'm.smtp_message_id',
        'm.provider_message_id',
        'm.is_test',
      ])
      .where('e.id', 'in', ids)
      .orderBy('e.id')
      .execute();
    return events.flatMap((e) => {
      const at = Number(e.created_at);
      const details = e.data ? (JSON.parse(e.data) as Record<string, unknown>) : {};
      const payload = JSON.stringify({
        type: `email.${e.type}`,
        timestamp: new Date(at).toISOString(),
        data: {
          message_id: e.message_id,
          to: e.recipient_email ?? null,
          template_key: e.template_key ?? null,
          category: e.category ?? null,
          class: e.class ?? null,
          status: e.recipient_email === null ? null : statusAfter(e.type, details),
          smtp_message_id: e.smtp_message_id ?? null,
          provider_message_id: e.provider_message_id ?? null,
          test: e.is_test === 1,
          details,
        },
      });
      return endpoints
        .filter((ep) => ep.types.has(e.type) && ep.createdAt <= at)
        .map((ep) => ({
          id: newId(),
          endpoint_id: ep.id,
          message_id: e.message_id,
          event_id: Number(e.id),
          event_type: e.type,
          payload,
          status: 'pending' as const,
          attempts: 0,
          next_attempt_at: at,
          last_status_code: null,
          last_error: null,
          created_at: at,
          completed_at: null,
        }));
    });
  }

  /**
   * Builds the deliveries of the events `wanted`, inserts them and moves the cursor from `from` to
   * `to`, in one transaction that holds the tail (see holdWebhookTail); another tailer's move
   * makes it roll back. Returns how many deliveries it made.
   */
  private async advance(from: number, to: number, wanted: number[], endpoints: Endpoint[]): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      if ((await holdWebhookTail(trx, this.dialect)) !== from) throw new CursorMoved(from);
      const rows = wanted.length > 0 ? await this.deliveries(trx, wanted, endpoints) : [];
      // In chunks: SQLite caps the parameters of one statement.
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
        await trx
          .insertInto('webhook_deliveries')
          .values(rows.slice(i, i + INSERT_CHUNK))
          .onConflict((oc) => oc.columns(['endpoint_id', 'event_id']).doNothing())
          .execute();
      }
      const moved = await trx
        .updateTable('event_cursors')
        .set({ position: to, updated_at: Date.now() })
        .where('name', '=', CURSOR)
        .where('position', '=', from)
        .executeTakeFirst();
      if (Number(moved.numUpdatedRows) !== 1) throw new CursorMoved(from);
      return rows.length;
    });
  }
}

/** Another tailer moved the cursor first (this one's lease had lapsed): its pass is undone, nothing is lost. */
export class CursorMoved extends Error {
  constructor(from: number) {
    super(`the webhook cursor moved past ${from} in another process; this pass was undone`);
  }
}
