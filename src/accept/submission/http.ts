import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { DB } from '../../platform/db/schema.js';
import { actorOf } from '../../platform/http/auth.js';
import { sendDownload } from '../../platform/http/download.js';
import { DateTime, errors, NullableDateTime, NullableString, StringEnum } from '../../platform/http/schemas.js';
import { dropSpooled, getSpooled, listSpool, retrySpooled, spooledRaw } from './spool-admin.js';

const SpoolEntry = Type.Object({
  id: Type.Integer(),
  received_at: DateTime,
  envelope_from: Type.String(),
  from_email: Type.String(),
  recipients: Type.Array(Type.String()),
  message_ids: Type.Array(Type.String({ description: 'The ids the 250 named: the messages get them once stored' })),
  smtp_message_id: Type.String(),
  size: Type.Integer({ description: 'Bytes of the message as received' }),
  attempts: Type.Integer({ description: 'Times an ingester took it' }),
  state: StringEnum(['waiting', 'storing', 'failing'] as const, {
    description:
      'waiting: stored at the next pass; storing: an ingester holds it now; failing: could not be stored, tried again at next_try_at',
  }),
  next_try_at: NullableDateTime,
  last_error: NullableString,
});

const Id = Type.Object({ id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) });

/** /api/v1/system/submission-spool (admin): what waits in the SMTP submission spool, and what an operator may do with it. */
export const spoolHttp: FastifyPluginAsyncTypebox<{ db: Kysely<DB> }> = async (app, { db }) => {
  app.get(
    '/api/v1/system/submission-spool',
    {
      schema: {
        summary: 'Messages accepted over SMTP (250 given) and not yet stored as messages, oldest first',
        querystring: Type.Object({
          failing: Type.Optional(Type.Boolean({ description: 'Only those that could not be stored' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
        }),
        response: { 200: Type.Object({ items: Type.Array(SpoolEntry) }), ...errors() },
      },
    },
    async (request) =>
      listSpool(db, { failingOnly: request.query.failing ?? false, limit: request.query.limit ?? 100 }),
  );

  app.get(
    '/api/v1/system/submission-spool/:id',
    { schema: { summary: 'One spooled message', params: Id, response: { 200: SpoolEntry, ...errors(404) } } },
    async (request) => getSpooled(db, request.params.id),
  );

  app.get(
    '/api/v1/system/submission-spool/:id/raw',
    {
      schema: {
        summary: 'Download a spooled message as the client sent it (message/rfc822)',
        params: Id,
        response: { 200: Type.String({ description: 'The raw message' }), ...errors(404) },
      },
    },
    async (request, reply) =>
      sendDownload(reply, {
        filename: `spooled-${request.params.id}.eml`,
        contentType: 'message/rfc822',
        data: await spooledRaw(db, request.params.id),
      }),
  );

  app.post(
    '/api/v1/system/submission-spool/:id/retry',
    {
      schema: {
        summary: 'Try to store a failing spooled message at the next pass, not at the end of its backoff',
        params: Id,
        response: { 200: SpoolEntry, ...errors(404, 409) },
      },
    },
    async (request) => retrySpooled(db, request.params.id),
  );

  app.delete(
    '/api/v1/system/submission-spool/:id',
    {
      schema: {
        summary: 'Drop a spooled message that failed to be stored: its messages are never stored or sent (logged)',
        params: Id,
        response: {
          200: Type.Object({ id: Type.Integer(), message_ids: Type.Array(Type.String()) }),
          ...errors(404, 409),
        },
      },
    },
    async (request) => dropSpooled(db, request.log, request.params.id, actorOf(request) ?? 'unknown'),
  );
};
