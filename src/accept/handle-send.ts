import type { FastifyReply, FastifyRequest } from 'fastify';
import { decodedBase64 } from '../platform/http/large-json.js';
import type { AttachmentInput } from './attachments.js';
import type { SendRequest } from './send.service.js';
import type { Services } from '../app/wiring.js';
import { checkIdempotencyKey, idempotent } from './idempotency.js';

/**
 * POST /send, with the Idempotency-Key header honoured when present. Keys are per API key.
 * A request's hash is of its body as parsed: a large attachment is a marker naming its content's
 * hash there (platform/http/large-json.ts), the bytes go to the send.
 */
export async function handleSend(s: Services, request: FastifyRequest, body: SendRequest, reply: FastifyReply) {
  const decoded = (a: AttachmentInput) => (typeof a.data_base64 === 'string' && decodedBase64(request, a.data_base64)) || a.data_base64;
  const input: SendRequest = body.attachments ? { ...body, attachments: body.attachments.map((a) => ({ ...a, data_base64: decoded(a) })) } : body;
  const header = request.headers['idempotency-key'];
  if (header === undefined) {
    const result = await s.send.send(input, { principal: request.principal });
    logAccepted(request, body, result.items);
    return reply.status(201).send(result);
  }
  const key = Array.isArray(header) ? header.join(',') : header;
  checkIdempotencyKey(key);
  const p = request.principal;
  const scope = p?.keyId ?? `token:${p?.name ?? 'anonymous'}`;
  const r = await idempotent(s.db, scope, key, body, async (h) => {
    const result = await s.send.send(input, {
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
