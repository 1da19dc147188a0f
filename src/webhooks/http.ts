import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { DB, WebhookEndpointRow } from '../platform/db/schema.js';
import { actorOf } from '../platform/http/auth.js';
import { AppError } from '../platform/errors.js';
import {
  errors,
  Nullable,
  NullableDateTime,
  NullableInteger,
  NullableString,
  StringEnum,
} from '../platform/http/schemas.js';
import { newId } from '../platform/ids.js';
import { iso } from '../platform/time.js';
import { WEBHOOK_EVENT_TYPES } from './event-types.js';
import { generateSecret, secretBytes } from './signing.js';

const EventTypes = Type.Array(Type.Union(WEBHOOK_EVENT_TYPES.map((t) => Type.Literal(t))), {
  minItems: 1,
  uniqueItems: true,
});
const Url = Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2000 });
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

/**
 * An endpoint URL the dispatcher can post to, checked where it is given (the schema's `uri`
 * format lets through a port past 65535, an empty host, and a user and password, which fetch
 * refuses): else every delivery would fail and retry until it gave up.
 */
function checkEndpointUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AppError('invalid_request', 'url: not a URL a request can be sent to', { field: 'url' });
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.hostname === '')
    throw new AppError('invalid_request', 'url: an http:// or https:// URL with a host', { field: 'url' });
  if (u.username !== '' || u.password !== '')
    throw new AppError('invalid_request', 'url: no user or password in it (each delivery is signed instead)', {
      field: 'url',
    });
}

const EndpointView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  url: Type.String(),
  description: Type.String(),
  event_types: Type.Array(Type.String()),
  is_active: Type.Boolean(),
  paused_reason: Nullable(
    Type.String({
      description:
        'Why Postier paused the endpoint itself (it answered 410 Gone); null while active or when paused by an operator. Resuming clears it',
    }),
  ),
  created_by: NullableString,
  created_at: NullableDateTime,
  updated_at: NullableDateTime,
});

const DeliveryView = Type.Object({
  id: Type.String({ description: 'Also the webhook-id header of every attempt' }),
  event_type: Type.String(),
  message_id: NullableString,
  status: StringEnum(['pending', 'delivered', 'failed'] as const),
  attempts: Type.Integer(),
  next_attempt_at: NullableDateTime,
  last_status_code: NullableInteger,
  last_error: NullableString,
  created_at: NullableDateTime,
  completed_at: NullableDateTime,
  payload: Type.Unknown({ description: 'The body posted: {type, timestamp, data}' }),
  attempt_log: Type.Array(
    Type.Object({
      at: NullableDateTime,
      status_code: NullableInteger,
      duration_ms: Type.Integer(),
      error: NullableString,
    }),
  ),
});

// The secret is shown once, when created; listings never include it.
const view = (e: WebhookEndpointRow) => ({
  id: e.id,
  url: e.url,
  description: e.description,
  event_types: JSON.parse(e.event_types) as string[],
  is_active: e.is_active === 1,
  paused_reason: e.paused_reason,
  created_by: e.created_by,
  created_at: iso(e.created_at),
  updated_at: iso(e.updated_at),
});

async function find(db: Kysely<DB>, id: string): Promise<WebhookEndpointRow> {
  const e = await db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
  if (!e) throw new AppError('webhook_not_found', `No webhook endpoint ${id}`);
  return e;
}

export interface WebhooksHttpOptions {
  db: Kysely<DB>;
  /** Tells this process's dispatcher that a delivery is due now (a test event, a manual retry). */
  ring?: () => void;
}

const Queued = Type.Object({
  delivery_id: Type.String({ format: 'uuid' }),
  status: StringEnum(['pending'] as const),
});

/** Admin CRUD over outbound webhook endpoints, and their delivery log. */
export const webhooksHttp: FastifyPluginAsyncTypebox<WebhooksHttpOptions> = async (r, { db, ring }) => {
  r.post(
    '/api/v1/webhooks',
    {
      schema: {
        summary: 'Add an endpoint: signed POSTs (Standard Webhooks) for the message events it names',
        body: Type.Object(
          {
            url: Url,
            event_types: EventTypes,
            description: Type.Optional(Type.String({ maxLength: 500 })),
            secret: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        // 400 also for a secret that is not whsec_ and 24 to 64 bytes of base64.
        response: {
          201: Type.Object({ ...EndpointView.properties, secret: Type.String({ description: 'Shown this once' }) }),
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      checkEndpointUrl(b.url);
      const secret = b.secret ?? generateSecret();
      secretBytes(secret);
      const now = Date.now();
      const row: WebhookEndpointRow = {
        id: newId(),
        url: b.url,
        description: b.description ?? '',
        event_types: JSON.stringify(b.event_types),
        secret,
        is_active: 1,
        paused_reason: null,
        created_by: actorOf(request),
        created_at: now,
        updated_at: now,
      };
      await db.insertInto('webhook_endpoints').values(row).execute();
      return reply.status(201).send({ ...view(row), secret });
    },
  );

  r.get(
    '/api/v1/webhooks',
    { schema: { summary: 'List endpoints', response: { 200: Type.Object({ items: Type.Array(EndpointView) }) } } },
    async () => ({
      items: (await db.selectFrom('webhook_endpoints').selectAll().orderBy('created_at').execute()).map(view),
    }),
  );

  r.get(
    '/api/v1/webhooks/:id',
    { schema: { summary: 'One endpoint', params: IdParams, response: { 200: EndpointView, ...errors(404) } } },
    async (request) => view(await find(db, request.params.id)),
  );

  r.patch(
    '/api/v1/webhooks/:id',
    {
      schema: {
        summary: 'Change an endpoint (url, events, description, active)',
        params: IdParams,
        body: Type.Object(
          {
            url: Type.Optional(Url),
            event_types: Type.Optional(EventTypes),
            description: Type.Optional(Type.String({ maxLength: 500 })),
            is_active: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 200: EndpointView, ...errors(404) },
      },
    },
    async (request) => {
      const e = await find(db, request.params.id);
      const b = request.body;
      if (b.url !== undefined) checkEndpointUrl(b.url);
      const patch = {
        ...(b.url !== undefined ? { url: b.url } : {}),
        ...(b.event_types !== undefined ? { event_types: JSON.stringify(b.event_types) } : {}),
        ...(b.description !== undefined ? { description: b.description } : {}),
        ...(b.is_active !== undefined ? { is_active: b.is_active ? 1 : 0 } : {}),
        // Resumed: the reason it was paused for (a 410 Gone) no longer holds.
        ...(b.is_active === true ? { paused_reason: null } : {}),
        updated_at: Date.now(),
      };
      await db.updateTable('webhook_endpoints').set(patch).where('id', '=', e.id).execute();
      return view({ ...e, ...patch });
    },
  );

  r.delete(
    '/api/v1/webhooks/:id',
    {
      schema: {
        summary: 'Delete an endpoint and its delivery log',
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errors(404) },
      },
    },
    async (request, reply) => {
      const e = await find(db, request.params.id);
      await db.deleteFrom('webhook_endpoints').where('id', '=', e.id).execute();
      return reply.status(204).send(null);
    },
  );

  r.post(
    '/api/v1/webhooks/:id/test',
    {
      schema: {
        summary: 'Send a test event: a synthetic `email.test` delivery, signed like any other',
        params: IdParams,
        // 409 invalid_state: the endpoint is paused (its deliveries wait until it is resumed).
        response: { 202: Queued, ...errors(404, 409) },
      },
    },
    async (request, reply) => {
      const e = await find(db, request.params.id);
      if (e.is_active !== 1)
        throw new AppError(
          'invalid_state',
          `This endpoint is paused${e.paused_reason ? ` (${e.paused_reason})` : ''}: resume it to test it`,
        );
      const now = Date.now();
      const id = newId();
      const payload = JSON.stringify({
        type: 'email.test',
        timestamp: new Date(now).toISOString(),
        data: {
          test: true,
          message_id: null,
          details: { by: actorOf(request), note: 'A test event sent from Postier' },
        },
      });
      await db
        .insertInto('webhook_deliveries')
        .values({
          id,
          endpoint_id: e.id,
          message_id: null,
          event_id: null,
          event_type: 'test',
          payload,
          status: 'pending',
          attempts: 0,
          next_attempt_at: now,
          last_status_code: null,
          last_error: null,
          created_at: now,
          completed_at: null,
        })
        .execute();
      ring?.();
      return reply.status(202).send({ delivery_id: id, status: 'pending' as const });
    },
  );

  r.post(
    '/api/v1/webhooks/:id/deliveries/:delivery_id/retry',
    {
      schema: {
        summary: 'Deliver a failed delivery again, with a fresh attempt budget (its attempt log stays)',
        params: Type.Object({ id: Type.String({ format: 'uuid' }), delivery_id: Type.String({ format: 'uuid' }) }),
        // 409 invalid_state: only a failed delivery is retried.
        response: { 202: Queued, ...errors(404, 409) },
      },
    },
    async (request, reply) => {
      const { id, delivery_id } = request.params;
      await find(db, id);
      const r = await db
        .updateTable('webhook_deliveries')
        .set({ status: 'pending', attempts: 0, next_attempt_at: Date.now(), completed_at: null })
        .where('id', '=', delivery_id)
        .where('endpoint_id', '=', id)
        .where('status', '=', 'failed')
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) {
        const d = await db
          .selectFrom('webhook_deliveries')
          .select('status')
          .where('id', '=', delivery_id)
          .where('endpoint_id', '=', id)
          .executeTakeFirst();
        if (!d) throw new AppError('webhook_not_found', `No delivery ${delivery_id} for endpoint ${id}`);
        throw new AppError('invalid_state', `Only a failed delivery can be retried; this one is ${d.status}`, {
          status: d.status,
        });
      }
      ring?.();
      return reply.status(202).send({ delivery_id, status: 'pending' as const });
    },
  );

  r.post(
    '/api/v1/webhooks/:id/secret',
    {
      schema: {
        summary: 'Rotate the signing secret: a new one, shown this once, signs every delivery from now on',
        params: IdParams,
        response: {
          200: Type.Object({ ...EndpointView.properties, secret: Type.String({ description: 'Shown this once' }) }),
          ...errors(404),
        },
      },
    },
    async (request) => {
      const e = await find(db, request.params.id);
      const secret = generateSecret();
      const updated_at = Date.now();
      await db.updateTable('webhook_endpoints').set({ secret, updated_at }).where('id', '=', e.id).execute();
      return { ...view({ ...e, updated_at }), secret };
    },
  );

  r.get(
    '/api/v1/webhooks/:id/deliveries',
    {
      schema: {
        summary: "An endpoint's deliveries, newest first, with every attempt",
        params: IdParams,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
          before: Type.Optional(
            Type.String({ format: 'uuid', description: 'id of the last delivery of the previous page' }),
          ),
        }),
        response: {
          200: Type.Object({ items: Type.Array(DeliveryView), next_before: NullableString }),
          ...errors(404),
        },
      },
    },
    async (request) => {
      await find(db, request.params.id);
      let q = db.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', request.params.id);
      if (request.query.before) q = q.where('id', '<', request.query.before);
      const rows = await q
        .orderBy('id', 'desc')
        .limit(request.query.limit + 1)
        .execute();
      const page = rows.slice(0, request.query.limit);
      const attempts = page.length
        ? await db
            .selectFrom('webhook_attempts')
            .selectAll()
            .where(
              'delivery_id',
              'in',
              page.map((d) => d.id),
            )
            .orderBy('id')
            .execute()
        : [];
      return {
        items: page.map((d) => ({
          id: d.id,
          event_type: d.event_type,
          message_id: d.message_id,
          status: d.status,
          attempts: d.attempts,
          next_attempt_at: iso(d.next_attempt_at),
          last_status_code: d.last_status_code,
          last_error: d.last_error,
          created_at: iso(d.created_at),
          completed_at: iso(d.completed_at),
          payload: JSON.parse(d.payload) as unknown,
          attempt_log: attempts
            .filter((a) => a.delivery_id === d.id)
            .map((a) => ({
              at: iso(a.attempted_at),
              status_code: a.status_code,
              duration_ms: a.duration_ms,
              error: a.error,
            })),
        })),
        next_before: rows.length > request.query.limit ? page[page.length - 1]!.id : null,
      };
    },
  );
};
