import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { EventLog } from '../events/index.js';
import type { CommitQueue } from '../platform/db/commit-queue.js';
import type { DB } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { actorOf } from '../platform/http/auth.js';
import { DateTime, errors, Nullable, NullableDateTime, NullableString, StringEnum } from '../platform/http/schemas.js';
import { listRelayStatus } from './relay-status.js';
import type { OutboxSignal } from './signal.js';

const RelayStatus = Type.Object({
  name: Type.String({ description: '`relay` (SMTP_HOST) or `capture`' }),
  address: Type.String({ description: 'host:port' }),
  state: StringEnum(['ok', 'problem'] as const),
  since: DateTime,
  problem_kind: Nullable(
    Type.String({
      description:
        'auth, tls, relaying_denied, sender_rejected, unavailable, refused_session, connection, timeout, protocol',
    }),
  ),
  last_problem: NullableString,
  last_problem_at: NullableDateTime,
  last_ok_at: NullableDateTime,
  updated_at: DateTime,
});

export interface DeliveryHttpOptions {
  db: Kysely<DB>;
  commits: CommitQueue;
  events: EventLog;
  /** Rung when a retried message is due: a worker in this process leases it at once. */
  outbox: OutboxSignal;
}

/** Retrying a failed message, and the relay's health (admin only). */
export const deliveryHttp: FastifyPluginAsyncTypebox<DeliveryHttpOptions> = async (r, s) => {
  /** A failed message goes back to the queue with a fresh attempt budget (admin only). */
  r.post(
    '/api/v1/email/messages/:id/retry',
    {
      schema: {
        summary: 'Queue a failed message again, with a fresh attempt budget',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        // 409 invalid_state: only a failed message can be retried.
        response: {
          200: Type.Object({ id: Type.String({ format: 'uuid' }), status: StringEnum(['queued'] as const) }),
          ...errors(404, 409),
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const now = Date.now();
      const outcome = await s.commits.run(async (trx) => {
        const row = await trx
          .selectFrom('email_messages')
          .select(['status', 'error_message', 'attempts'])
          .where('id', '=', id)
          .executeTakeFirst();
        if (!row) return 'missing' as const;
        // Conditional: a concurrent retry or status change wins, this one reports the conflict.
        // A failed message has no accepted recipient: every one of them is tried again.
        const res = await trx
          .updateTable('email_messages')
          .set({
            status: 'queued',
            attempts: 0,
            next_attempt_at: now,
            error_message: null,
            lease_owner: null,
            lease_expires_at: null,
            recipient_status: null,
            relay_problem_since: null,
            updated_at: now,
          })
          .where('id', '=', id)
          .where('status', '=', 'failed')
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) !== 1) return row.status;
        const data = { by: actorOf(request), previous_error: row.error_message, previous_attempts: row.attempts };
        await s.events.record(trx, [{ messageId: id, type: 'retried', at: now, data }]);
        return 'queued' as const;
      });
      if (outcome === 'missing') throw new AppError('message_not_found', `No message ${id}`);
      if (outcome !== 'queued')
        throw new AppError('invalid_state', `Only a failed message can be retried; this one is ${outcome}`, {
          status: outcome,
        });
      s.outbox.notify();
      return { id, status: 'queued' as const };
    },
  );

  /**
   * The relay's health as the delivery workers last saw it change (admin only): the dashboard's
   * banner. A relay problem keeps messages queued without spending their attempts.
   */
  r.get(
    '/api/v1/delivery/relay',
    {
      schema: {
        summary: 'SMTP relay health: ok, or the problem (login, TLS, relaying denied, unreachable, …) since when',
        response: { 200: Type.Object({ items: Type.Array(RelayStatus) }) },
      },
    },
    async () => ({ items: await listRelayStatus(s.db) }),
  );
};
