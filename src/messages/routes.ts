import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { MESSAGE_STATUSES } from '../platform/db/schema.js';
import { handleSend } from '../accept/handle-send.js';
import { sendDownload } from '../platform/http/download.js';
import type { Services } from '../app/wiring.js';
import { anonymizeAddress } from '../platform/crypto/anon-key.js';
import { getAttachment, getMessage, listMessages } from './queries.js';

const Recipients = Type.Union([Type.String({ maxLength: 20_000 }), Type.Array(Type.String({ maxLength: 320 }), { maxItems: 1000 })]);

export const SendBody = Type.Object(
  {
    to: Recipients,
    template_key: Type.String({ minLength: 1, maxLength: 100 }),
    variables: Type.Optional(Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), { maxProperties: 500 })),
    attachments: Type.Optional(
      Type.Array(
        Type.Object(
          {
            filename: Type.String({ minLength: 1, maxLength: 255 }),
            content_type: Type.String({ minLength: 1, maxLength: 100 }),
            data_base64: Type.String({ minLength: 1 }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 20 },
      ),
    ),
    cc: Type.Optional(Recipients),
    bcc: Type.Optional(Recipients),
    reply_to: Type.Optional(Type.String({ maxLength: 320 })),
    locale: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$' })),
    template_version: Type.Optional(Type.Integer({ minimum: 1 })),
    send_at: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);

const Status = Type.Union(MESSAGE_STATUSES.map((s) => Type.Literal(s)));

export function messageRoutes(app: FastifyInstance, s: Services): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/api/v1/email/send',
    // Large attachments arrive decoded, never as strings: the request's memory stays near its body's size.
    { config: { auth: 'send', decodedBase64: ['attachments.*.data_base64'] }, schema: { body: SendBody } },
    async (request, reply) => handleSend(s, request, request.body, reply),
  );

  r.get(
    '/api/v1/email/messages',
    {
      schema: {
        querystring: Type.Object({
          to: Type.Optional(Type.String({ maxLength: 320 })),
          status: Type.Optional(Status),
          template_key: Type.Optional(Type.String({ maxLength: 100 })),
          category: Type.Optional(Type.String({ maxLength: 50 })),
          since: Type.Optional(Type.String({ format: 'date-time' })),
          until: Type.Optional(Type.String({ format: 'date-time' })),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          cursor: Type.Optional(Type.String({ maxLength: 200 })),
        }),
      },
    },
    async (request) => {
      const q = request.query;
      return listMessages(
        s.db,
        {
          to: q.to,
          toHashed: q.to ? anonymizeAddress(s.config, q.to) : undefined,
          status: q.status,
          template_key: q.template_key,
          category: q.category,
          since: q.since ? Date.parse(q.since) : undefined,
          until: q.until ? Date.parse(q.until) : undefined,
        },
        q.limit,
        q.cursor,
      );
    },
  );

  const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

  // `from` is the configured sender every message goes out with (the admin UI shows it among the headers).
  const from = `${s.config.smtp.fromName} <${s.config.smtp.fromEmail}>`;
  r.get('/api/v1/email/messages/:id', { schema: { params: IdParams } }, async (request) => ({ ...(await getMessage(s.db, request.params.id)), from }));

  r.get(
    '/api/v1/email/messages/:id/attachments/:attachment_id',
    { schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }), attachment_id: Type.String({ format: 'uuid' }) }) } },
    async (request, reply) => {
      const a = await getAttachment(s.db, request.params.id, request.params.attachment_id);
      return sendDownload(reply, { filename: a.filename, contentType: a.content_type, data: a.data });
    },
  );
}
