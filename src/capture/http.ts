import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { sendDownload } from '../platform/http/download.js';
import { capturedAttachment, clearCapturedMail, listCapturedMail, parsedCapturedMail, rawCapturedMail } from './store.js';

export interface CaptureHttpOptions {
  db: Kysely<DB>;
}

/** The dev inbox: what the capture SMTP server received. Admin only (the routes' default). */
export const captureHttp: FastifyPluginAsyncTypebox<CaptureHttpOptions> = async (r, { db }) => {
  const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

  r.get(
    '/api/v1/dev/inbox',
    { schema: { querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }), cursor: Type.Optional(Type.String({ maxLength: 200 })) }) } },
    async (request) => listCapturedMail(db, request.query.limit, request.query.cursor),
  );

  r.delete('/api/v1/dev/inbox', async () => ({ deleted: await clearCapturedMail(db) }));

  r.get('/api/v1/dev/inbox/:id', { schema: { params: IdParams } }, async (request) => parsedCapturedMail(db, request.params.id));

  r.get('/api/v1/dev/inbox/:id/raw', { schema: { params: IdParams } }, async (request, reply) => {
    const row = await rawCapturedMail(db, request.params.id);
    return reply.header('content-type', 'message/rfc822').header('content-disposition', `attachment; filename="${row.id}.eml"`).send(row.raw);
  });

  r.get(
    '/api/v1/dev/inbox/:id/attachments/:index',
    { schema: { params: Type.Object({ id: Type.String({ format: 'uuid' }), index: Type.Integer({ minimum: 0, maximum: 1000 }) }) } },
    async (request, reply) => {
      const a = await capturedAttachment(db, request.params.id, request.params.index);
      // Captured mail is untrusted input: never let a browser sniff it into HTML.
      return sendDownload(reply, { filename: a.filename, contentType: a.contentType, data: a.content });
    },
  );
};
