import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { decodedBase64 } from '../platform/http/large-json.js';
import { acceptLatency } from '../platform/metrics.js';
import type { AttachmentInput } from './attachments.js';
import { checkIdempotencyKey, idempotencyScope, idempotent } from './idempotency.js';
import { errors } from '../platform/http/schemas.js';
import { sendBatch } from './batch.js';
import { BatchBody, BatchResult, MAX_BATCH, SendBody, SendResult } from './schemas.js';
import { AppError } from '../platform/errors.js';
import type { SendRequest, SendService } from './send.service.js';

export interface AcceptHttpOptions {
  send: SendService;
  /** Where Idempotency-Key answers are kept. */
  db: Kysely<DB>;
}

/** POST /api/v1/email/send and /api/v1/email/batch (any key). */
export const acceptHttp: FastifyPluginAsyncTypebox<AcceptHttpOptions> = async (app, { send, db }) => {
  // Request to 201, the durable commit included (postier_accept_duration_seconds).
  app.addHook('onResponse', async (_request, reply) => {
    if (reply.statusCode === 201) acceptLatency.observe(reply.elapsedTime / 1000);
  });

  app.post(
    '/api/v1/email/send',
    // Large attachments arrive decoded, never as strings: the request's memory stays near its body's size.
    {
      config: { auth: 'send', decodedBase64: ['attachments.*.data_base64'] },
      schema: {
        summary: 'Send an email from a template, or with its own subject and body (raw), to one or more recipients',
        description:
          'With `template_key`, the stored template is rendered with `variables`; without it, `subject` and `html` and/or `text` are ' +
          'the content. `from` must be allowed for the key (403 `from_not_allowed`). ' +
          'With an `Idempotency-Key` header, a retry with the same body replays the first answer (header `idempotent-replayed: true`); ' +
          'the same key with another body is a 409 `idempotency_conflict`.',
        body: SendBody,
        // 403 from_not_allowed; 404 template_not_found; 409 idempotency_conflict; 422 invalid address, variables,
        // attachments, header values, send_at, tags, metadata.
        response: { 201: SendResult, ...errors(403, 404, 409, 422) },
      },
    },
    async (request, reply) => handleSend(send, db, request, request.body, reply),
  );

  app.post(
    '/api/v1/email/batch',
    {
      config: { auth: 'send', decodedBase64: ['messages.*.attachments.*.data_base64'] },
      // The envelope is checked here; each message against the send schema in the handler, so one
      // malformed message is that message's error, not the request's (the schema stays whole for the API document).
      validatorCompiler: () => batchEnvelope,
      schema: {
        summary: 'Send up to 500 independent messages in one request and one durable commit',
        description:
          'Each message is a send body (template or raw) plus an optional `idempotency_key`. The answer lists one entry per ' +
          'message in request order: its `items` (one per recipient, each queued, suppressed, rate_limited…) or its own `error` ' +
          '`{code, message, details}`. A malformed envelope (not an object, 0 or more than 500 messages) is a 400.',
        body: BatchBody,
        response: { 200: BatchResult, ...errors() },
      },
    },
    async (request, reply) => {
      const items = await sendBatch(send, db, request, request.body.messages as unknown[]);
      return reply.status(200).send({ items });
    },
  );
};

function batchEnvelope(body: unknown): { value: unknown } | { error: Error } {
  const b = body as { messages?: unknown } | null;
  const problem =
    b === null || typeof b !== 'object' || Array.isArray(b)
      ? 'expected an object {"messages": [...]}'
      : Object.keys(b).some((k) => k !== 'messages')
        ? 'only "messages" is allowed at the top level'
        : !Array.isArray(b.messages)
          ? 'messages: expected an array'
          : b.messages.length === 0 || b.messages.length > MAX_BATCH
            ? `messages: 1 to ${MAX_BATCH} messages`
            : null;
  if (problem === null) return { value: body };
  const error = new AppError('invalid_request', `Invalid body: ${problem}`, { max_messages: MAX_BATCH });
  return { error };
}

/**
 * The Idempotency-Key header is honoured when present; keys are per API key. A request's hash is
 * of its body as parsed: a large attachment is a marker naming its content's hash there
 * (platform/http/large-json.ts), the bytes go to the send.
 */
async function handleSend(
  send: SendService,
  db: Kysely<DB>,
  request: FastifyRequest,
  body: SendRequest,
  reply: FastifyReply,
) {
  const decoded = (a: AttachmentInput) =>
    (typeof a.data_base64 === 'string' && decodedBase64(request, a.data_base64)) || a.data_base64;
  const input: SendRequest = body.attachments
    ? { ...body, attachments: body.attachments.map((a) => ({ ...a, data_base64: decoded(a) })) }
    : body;
  const header = request.headers['idempotency-key'];
  if (header === undefined) {
    const result = await send.send(input, { principal: request.principal });
    logAccepted(request, body, result.items);
    return reply.status(201).send(result);
  }
  const key = Array.isArray(header) ? header.join(',') : header;
  checkIdempotencyKey(key);
  const p = request.principal;
  const scope = idempotencyScope(p);
  const r = await idempotent(db, scope, key, body, async (h) => {
    const result = await send.send(input, {
      principal: p,
      hooks: { before: h.before, after: (trx, items) => h.after(trx, { status: 201, body: { items } }) },
    });
    logAccepted(request, body, result.items);
    return { status: 201, body: result };
  });
  return reply.status(r.status).header('idempotent-replayed', String(r.replayed)).send(r.body);
}

/** Ties the request to the messages it created; never the variables or attachments. */
function logAccepted(request: FastifyRequest, body: SendRequest, items: Array<{ id: string }>): void {
  request.log.debug({ message_ids: items.map((i) => i.id), template_key: body.template_key }, 'messages accepted');
}
