import type { Kysely } from 'kysely';
import type { Principal } from '../platform/http/auth.js';
import type { DB } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { iso } from '../platform/time.js';
import type { EventLog } from '../events/index.js';

/**
 * Cancels a message that has not gone out: `scheduled` (held until its send_at) or `queued`
 * (due, or waiting for a retry).
 * The update is conditional, so a worker leasing the row at the same moment wins or loses
 * cleanly: never both a send and a cancel.
 */
export async function cancelMessage(
  db: Kysely<DB>,
  events: EventLog,
  id: string,
  principal: Principal | null,
): Promise<{ id: string; status: 'cancelled'; cancelled_at: string }> {
  const now = Date.now();
  return db.transaction().execute(async (trx) => {
    let q = trx
      .updateTable('email_messages')
      .set({ status: 'cancelled', next_attempt_at: null, updated_at: now })
      .where('id', '=', id)
      .where('status', 'in', ['scheduled', 'queued']);
    // A send key may cancel what it sent; an admin anything.
    if (principal && principal.scope !== 'admin') q = q.where('api_key_id', '=', principal.keyId);
    const r = await q.executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) {
      const m = await trx
        .selectFrom('email_messages')
        .select(['status', 'api_key_id'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (!m || (principal && principal.scope !== 'admin' && m.api_key_id !== principal.keyId))
        throw new AppError('message_not_found', `No message ${id}`);
      throw new AppError(
        'invalid_state',
        `Message ${id} is ${m.status}; only a scheduled or queued message can be cancelled`,
        {
          status: m.status,
        },
      );
    }
    await events.record(trx, [
      {
        messageId: id,
        type: 'cancelled',
        at: now,
        data: principal ? { by: principal.keyId ?? principal.name } : undefined,
      },
    ]);
    return { id, status: 'cancelled' as const, cancelled_at: iso(now)! };
  });
}
