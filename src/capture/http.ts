import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { sendDownload } from '../platform/http/download.js';
import { Bytes, Download, errors, NullableDateTime, NullableString } from '../platform/http/schemas.js';
import {
  capturedAttachment,
  clearCapturedMail,
  listCapturedMail,
  parsedCapturedMail,
  rawCapturedMail,
} from './store.js';

const InboxPage = Type.Object({
  items: Type.Array(
    Type.Object({
      id: Type.String({ format: 'uuid' }),
      from: Type.String(),
      to: Type.Array(Type.String(), { description: "The SMTP envelope's recipients" }),
      subject: Type.String(),
      date: NullableDateTime,
      received_at: NullableDateTime,
      size: Type.Integer(),
    }),
  ),
  total: Type.Integer(),
  next_cursor: NullableString,
});

/** A captured mail as mailparser reads it: what a mail client would show. */
const InboxMessage = Type.Object({
  id: Type.String({ format: 'uuid' }),
  received_at: NullableDateTime,
  envelope: Type.Object({ from: Type.String(), to: Type.Array(Type.String()) }),
  size: Type.Integer(),
  message_id: NullableString,
  date: NullableDateTime,
  from: Type.String(),
  to: Type.String(),
  cc: Type.String(),
  reply_to: Type.String(),
  subject: Type.String(),
  headers: Type.Array(
    Type.Object({ name: Type.String(), line: Type.String({ description: 'The whole "Name: value" line' }) }),
  ),
  text: NullableString,
  html: NullableString,
  attachments: Type.Array(
    Type.Object({
      index: Type.Integer(),
      filename: NullableString,
      content_type: Type.String(),
      size: Type.Integer(),
      content_id: NullableString,
    }),
  ),
});

export interface CaptureHttpOptions {
  db: Kysely<DB>;
}

/** The dev inbox: what the capture SMTP server received. Admin only (the routes' default). */
export const captureHttp: FastifyPluginAsyncTypebox<CaptureHttpOptions> = async (r, { db }) => {
  const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

  r.get(
    '/api/v1/dev/inbox',
    {
      schema: {
        summary: 'The dev inbox: mail the capture SMTP server received, newest first',
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          cursor: Type.Optional(Type.String({ maxLength: 200 })),
        }),
        response: { 200: InboxPage },
      },
    },
    async (request) => listCapturedMail(db, request.query.limit, request.query.cursor),
  );

  r.delete(
    '/api/v1/dev/inbox',
    { schema: { summary: 'Empty the dev inbox', response: { 200: Type.Object({ deleted: Type.Integer() }) } } },
    async () => ({
      deleted: await clearCapturedMail(db),
    }),
  );

  r.get(
    '/api/v1/dev/inbox/:id',
    {
      schema: {
        summary: 'One captured mail, parsed',
        params: IdParams,
        response: { 200: InboxMessage, ...errors(404) },
      },
    },
    async (request) => parsedCapturedMail(db, request.params.id),
  );

  r.get(
    '/api/v1/dev/inbox/:id/raw',
    {
      schema: {
        summary: 'One captured mail as received (.eml)',
        params: IdParams,
        response: { 200: Bytes('The message as received', ['message/rfc822']), ...errors(404) },
      },
    },
    async (request, reply) => {
      const row = await rawCapturedMail(db, request.params.id);
      return reply
        .header('content-type', 'message/rfc822')
        .header('content-disposition', `attachment; filename="${row.id}.eml"`)
        .send(row.raw);
    },
  );

  r.get(
    '/api/v1/dev/inbox/:id/attachments/:index',
    {
      schema: {
        summary: "A captured mail's attachment",
        params: Type.Object({
          id: Type.String({ format: 'uuid' }),
          index: Type.Integer({ minimum: 0, maximum: 1000 }),
        }),
        response: { 200: Download, ...errors(404) },
      },
    },
    async (request, reply) => {
      const a = await capturedAttachment(db, request.params.id, request.params.index);
      // Captured mail is untrusted input: never let a browser sniff it into HTML.
      return sendDownload(reply, { filename: a.filename, contentType: a.contentType, data: a.content });
    },
  );
};
