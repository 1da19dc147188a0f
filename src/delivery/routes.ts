import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { actorOf } from '../http/auth.js';
import { recordEvents } from '../messages/events.js';
import type { Services } from '../services.js';
import { AppError } from '../shared/errors.js';

export function deliveryRoutes(app: FastifyInstance, s: Services): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  /** A failed message goes back to the queue with a fresh attempt budget (admin only). */
  r.post('/api/v1/email/messages/:id/retry', { schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }) }) } }, async (request) => {
    const { id } = request.params;
    const now = Date.now();
    const outcome = await s.commits.run(async (trx) => {
      const row = await trx.selectFrom('email_messages').select(['status', 'error_message', 'attempts']).where('id', '=', id).executeTakeFirst();
      if (!row) return 'missing' as const;
      // Conditional: a concurrent retry or status change wins, this one reports the conflict.
      const res = await trx
        .updateTable('email_messages')
        .set({ status: 'queued', attempts: 0, next_attempt_at: now, error_message: null, lease_owner: null, lease_expires_at: null, updated_at: now })
        .where('id', '=', id)
        .where('status', '=', 'failed')
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return row.status;
      await recordEvents(trx, [{ messageId: id, type: 'retried', at: now, data: { by: actorOf(request), previous_error: row.error_message, previous_attempts: row.attempts } }]);
      return 'queued' as const;
    });
    if (outcome === 'missing') throw new AppError('message_not_found', `No message ${id}`);
    if (outcome !== 'queued') throw new AppError('invalid_state', `Only a failed message can be retried; this one is ${outcome}`, { status: outcome });
    s.outbox.notify();
    return { id, status: 'queued' };
  });
}
