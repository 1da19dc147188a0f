import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { checkHtml, htmlCheckResult, countCheck, HtmlCheckResult, LinkCheckList, spamReport } from '../checks/index.js';
import type { DB } from '../platform/db/schema.js';
import { sendDownload } from '../platform/http/download.js';
import { Bytes, Download, errors, Nullable, NullableDateTime, NullableString } from '../platform/http/schemas.js';
import { AppError } from '../platform/errors.js';
import { InboxStreams } from './live.js';
import {
  capturedAttachment,
  clearCapturedMail,
  deleteCapturedMail,
  listCapturedMail,
  parsedCapturedMail,
  rawCapturedMail,
  rawUnmaskedCapturedMail,
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
  archived_message_id: Nullable(
    Type.String({ format: 'uuid', description: 'The archived message with this Message-ID, when there is one' }),
  ),
  masked: Type.Boolean({
    description: 'The archived message masks sensitive values: they are masked here too, and the source is not served',
  }),
  links: LinkCheckList,
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
  /** How often a live inbox stream looks for changes (ms). */
  livePollMs?: number;
  /** SPAMD_ADDRESS: the spamd that scores captured mail (none: the spam check says so). */
  spamd?: { host: string; port: number } | undefined;
  /** Whether a bearer token is still an admin's (a live stream is cut when its key is revoked). */
  isAdmin?: (token: string) => Promise<boolean>;
}

const SpamCheck = Type.Object({
  available: Type.Boolean({ description: 'False when SPAMD_ADDRESS is unset or spamd could not be reached' }),
  reason: Type.Optional(Type.String()),
  score: Type.Optional(Type.Number()),
  threshold: Type.Optional(Type.Number()),
  is_spam: Type.Optional(Type.Boolean()),
  rules: Type.Optional(
    Type.Array(Type.Object({ score: Type.Number(), name: Type.String(), description: Type.String() })),
  ),
});

/** The dev inbox: what the capture SMTP server received. Admin only (the routes' default). */
export const captureHttp: FastifyPluginAsyncTypebox<CaptureHttpOptions> = async (
  r,
  { db, livePollMs, spamd, isAdmin },
) => {
  const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
  const streams = new InboxStreams(db, livePollMs);
  r.addHook('onClose', async () => streams.close());

  r.get(
    '/api/v1/dev/inbox',
    {
      schema: {
        summary: 'The dev inbox: mail the capture SMTP server received, newest first',
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          cursor: Type.Optional(Type.String({ maxLength: 200 })),
          q: Type.Optional(
            Type.String({
              maxLength: 200,
              description: 'Found in the subject, sender or recipients, case-insensitively',
            }),
          ),
        }),
        response: { 200: InboxPage },
      },
    },
    async (request) => listCapturedMail(db, request.query.limit, request.query.cursor, request.query.q),
  );

  r.get(
    '/api/v1/dev/inbox/events',
    {
      schema: {
        summary: 'Live inbox: server-sent events, `inbox` with {total, newest} whenever the inbox changes',
        description:
          'Authenticated like any admin route (Authorization header: read it with fetch, not EventSource). ' +
          'The first event is the state at connection time.',
        response: {
          200: Bytes(
            'text/event-stream: `event: inbox` / `data: {"total":n,"newest":id}`',
            ['text/event-stream'],
            'text',
          ),
        },
      },
    },
    async (request, reply) => {
      reply.hijack();
      const token = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
      await streams.attach(
        reply.raw,
        (end) => request.raw.on('close', end),
        isAdmin ? () => isAdmin(token) : undefined,
      );
    },
  );

  r.post(
    '/api/v1/dev/inbox/delete',
    {
      schema: {
        summary: 'Delete several captured mails',
        body: Type.Object(
          { ids: Type.Array(Type.String({ format: 'uuid' }), { minItems: 1, maxItems: 1000, uniqueItems: true }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ deleted: Type.Integer() }) },
      },
    },
    async (request) => ({ deleted: await deleteCapturedMail(db, request.body.ids) }),
  );

  r.delete(
    '/api/v1/dev/inbox/:id',
    {
      schema: {
        summary: 'Delete one captured mail',
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errors(404) },
      },
    },
    async (request, reply) => {
      if ((await deleteCapturedMail(db, [request.params.id])) === 0)
        throw new AppError('not_found', `No captured mail ${request.params.id}`);
      return reply.status(204).send(null);
    },
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
        // 409 invalid_state: the mail holds sensitive values its archived message masks.
        response: { 200: Bytes('The message as received', ['message/rfc822']), ...errors(404, 409) },
      },
    },
    async (request, reply) => {
      const row = await rawUnmaskedCapturedMail(db, request.params.id);
      return reply
        .header('content-type', 'message/rfc822')
        .header('content-disposition', `attachment; filename="${row.id}.eml"`)
        .send(row.raw);
    },
  );

  r.get(
    '/api/v1/dev/inbox/:id/spam',
    {
      schema: {
        summary: "A captured mail's SpamAssassin score and the rules that fired (spamd at SPAMD_ADDRESS)",
        params: IdParams,
        response: { 200: SpamCheck, ...errors(404) },
      },
    },
    async (request) => {
      const row = await rawCapturedMail(db, request.params.id);
      if (!spamd) {
        countCheck('spam', 'capture', 'unavailable');
        return { available: false, reason: 'SPAMD_ADDRESS is not set' };
      }
      try {
        const report = await spamReport(spamd, row.raw);
        countCheck('spam', 'capture', report.is_spam ? 'warned' : 'passed');
        return { available: true, ...report };
      } catch (e) {
        request.log.warn({ err: e }, 'spam check failed');
        countCheck('spam', 'capture', 'unavailable');
        return { available: false, reason: `spamd at ${spamd.host}:${spamd.port}: ${(e as Error).message}` };
      }
    },
  );

  r.get(
    '/api/v1/dev/inbox/:id/html-check',
    {
      schema: {
        summary:
          "A captured mail's HTML against caniemail.com's data: which email clients will not render what it uses",
        description:
          'Each HTML and CSS feature found (elements, attributes, properties, values, selectors, at-rules of <style> and style=""), ' +
          'how often, its support across email clients and the clients that lack it, then an overall score. ' +
          'Data: caniemail.com (MIT), see docs/admin-ui.md.',
        params: IdParams,
        response: { 200: HtmlCheckResult, ...errors(404) },
      },
    },
    async (request) => {
      const mail = await parsedCapturedMail(db, request.params.id);
      const check = await checkHtml(mail.html);
      countCheck('html', 'capture', htmlCheckResult(check));
      return check;
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
