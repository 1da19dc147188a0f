import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { actorOf } from '../platform/http/auth.js';
import { isValidAddress } from '../accept/index.js';
import { AppError } from '../platform/errors.js';
import { errors, NullableDateTime, NullableString, StringEnum } from '../platform/http/schemas.js';
import { ALL_SCOPES, addressSpellings, addSuppression, suppressionView } from './repository.js';

const encodeCursor = (id: string) => Buffer.from(id).toString('base64url');
function decodeCursor(c: string): string {
  const id = Buffer.from(c, 'base64url').toString();
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new AppError('invalid_request', 'Invalid cursor');
  return id;
}

const SuppressionView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  scope: Type.String({ description: "'all' or a sending class" }),
  reason: StringEnum(['bounce', 'complaint', 'unsubscribe', 'manual'] as const),
  source: Type.String({ description: 'ses, report, postmark, mailgun, sendgrid, brevo, api or unsubscribe_link' }),
  source_event: NullableString,
  message_id: NullableString,
  details: NullableString,
  created_by: NullableString,
  created_at: NullableDateTime,
});

const Scope = Type.String({ pattern: '^[a-z0-9_]{1,50}$', description: "'all' or a sending class (e.g. marketing)" });

export interface SuppressionsHttpOptions {
  db: Kysely<DB>;
}

/** Admin API over the suppression list. */
export const suppressionsHttp: FastifyPluginAsyncTypebox<SuppressionsHttpOptions> = async (r, { db }) => {
  r.get(
    '/api/v1/email/suppressions',
    {
      schema: {
        summary: 'List suppressed addresses, newest first',
        querystring: Type.Object({
          email: Type.Optional(Type.String({ maxLength: 320 })),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          cursor: Type.Optional(Type.String({ maxLength: 200 })),
        }),
        response: {
          200: Type.Object({ items: Type.Array(SuppressionView), total: Type.Integer(), next_cursor: NullableString }),
        },
      },
    },
    async (request) => {
      const { email, limit, cursor } = request.query;
      let q = db.selectFrom('email_suppressions').selectAll();
      let count = db.selectFrom('email_suppressions').select((eb) => eb.fn.countAll<number>().as('n'));
      if (email) {
        q = q.where('email', 'in', addressSpellings(email));
        count = count.where('email', 'in', addressSpellings(email));
      }
      if (cursor) q = q.where('id', '<', decodeCursor(cursor));
      const rows = await q
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit);
      return {
        items: page.map(suppressionView),
        total: Number((await count.executeTakeFirstOrThrow()).n),
        next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null,
      };
    },
  );

  r.post(
    '/api/v1/email/suppressions',
    {
      schema: {
        summary: 'Suppress an address (all mail, or one class)',
        body: Type.Object(
          {
            email: Type.String({ maxLength: 320 }),
            scope: Type.Optional(Scope),
            details: Type.Optional(Type.String({ maxLength: 1000 })),
          },
          { additionalProperties: false },
        ),
        // 201 added; 200 it was already there (returned as it is).
        response: { 201: SuppressionView, 200: SuppressionView, ...errors(422) },
      },
    },
    async (request, reply) => {
      const { email, scope = ALL_SCOPES, details } = request.body;
      if (!isValidAddress(email.trim()))
        throw new AppError('invalid_address', `Invalid email address: ${JSON.stringify(email)}`, { field: 'email' });
      const created = await addSuppression(db, {
        email,
        scope,
        reason: 'manual',
        source: 'api',
        details,
        createdBy: actorOf(request),
        at: Date.now(),
      });
      const row = await db
        .selectFrom('email_suppressions')
        .selectAll()
        .where('email', 'in', addressSpellings(email))
        .where('scope', '=', scope)
        .orderBy('created_at')
        .executeTakeFirstOrThrow();
      // An existing entry is returned as is (200): adding twice is not an error.
      return reply.status(created ? 201 : 200).send(suppressionView(row));
    },
  );

  r.delete(
    '/api/v1/email/suppressions/:id',
    {
      schema: {
        summary: 'Lift one suppression',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 204: Type.Null({ description: 'Lifted' }), ...errors(404) },
      },
    },
    async (request, reply) => {
      const r = await db.deleteFrom('email_suppressions').where('id', '=', request.params.id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0)
        throw new AppError('suppression_not_found', `No suppression ${request.params.id}`);
      return reply.status(204).send(null);
    },
  );

  // Lifting by address is what an operator usually wants: "this mailbox works again".
  r.delete(
    '/api/v1/email/suppressions',
    {
      schema: {
        summary: 'Lift the suppressions of an address (every scope, or one)',
        querystring: Type.Object({ email: Type.String({ minLength: 3, maxLength: 320 }), scope: Type.Optional(Scope) }),
        response: { 200: Type.Object({ deleted: Type.Integer() }), ...errors(404) },
      },
    },
    async (request) => {
      let q = db.deleteFrom('email_suppressions').where('email', 'in', addressSpellings(request.query.email));
      if (request.query.scope) q = q.where('scope', '=', request.query.scope);
      const r = await q.executeTakeFirst();
      if (Number(r.numDeletedRows) === 0)
        throw new AppError('suppression_not_found', `${request.query.email} is not suppressed`);
      return { deleted: Number(r.numDeletedRows) };
    },
  );
};
