import type { Kysely } from 'kysely';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import { storeBodies } from './bodies.js';

/** Messages per transaction: a send waiting for SQLite's write lock waits a few milliseconds. */
export const MOVE_BATCH = 200;

export interface MoveResult {
  messages: number;
  bodies: number;
  batches: number;
}

/**
 * Moves the bodies of messages written before email_bodies (still in html_content and
 * text_content) into it, a batch per transaction, oldest first, while the service runs: readers
 * take either form (withBodies), so nothing waits for the move to finish. Identical bodies in a
 * batch (the messages of one request) become one row. A row is read and rewritten in the same
 * transaction (locked on PostgreSQL), so an anonymization cannot interleave and bring a dropped
 * body back. Returns when none is left, or after `maxBatches`.
 */
export async function moveInlineBodies(
  db: Kysely<DB>,
  dialect: Dialect,
  opts: {
    onBatch?: () => Promise<void>;
    yieldToOthers?: () => Promise<void>;
    maxBatches?: number;
    batch?: number;
  } = {},
): Promise<MoveResult> {
  const total: MoveResult = { messages: 0, bodies: 0, batches: 0 };
  const size = opts.batch ?? MOVE_BATCH;
  while (total.batches < (opts.maxBatches ?? Number.POSITIVE_INFINITY)) {
    const moved = await db.transaction().execute(async (trx) => {
      // The same condition as the partial index email_messages_inline_body, which serves it.
      let q = trx
        .selectFrom('email_messages')
        .select(['id', 'html_content', 'text_content'])
        .where((eb) => eb.or([eb('html_content', 'is not', null), eb('text_content', 'is not', null)]))
        .orderBy('id')
        .limit(size);
      if (dialect === 'postgres') q = q.forUpdate().skipLocked();
      const rows = (await q.execute()).map((r) => ({ ...r, body_id: null as number | null }));
      if (rows.length === 0) return { messages: 0, bodies: 0 };
      await storeBodies(trx, rows, dialect);
      const byBody = new Map<number, string[]>();
      for (const r of rows) byBody.set(r.body_id!, [...(byBody.get(r.body_id!) ?? []), r.id]);
      for (const [bodyId, ids] of byBody) {
        await trx
          .updateTable('email_messages')
          .set({ body_id: bodyId, html_content: null, text_content: null })
          .where('id', 'in', ids)
          .execute();
      }
      return { messages: rows.length, bodies: byBody.size };
    });
    if (moved.messages === 0) break;
    total.messages += moved.messages;
    total.bodies += moved.bodies;
    total.batches++;
    await opts.onBatch?.();
    if (moved.messages < size) break;
    await opts.yieldToOthers?.();
  }
  return total;
}
