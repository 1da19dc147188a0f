import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SendRequest } from '../messages/send.service.js';
import type { Services } from '../services.js';
import { checkIdempotencyKey, idempotent } from './idempotency.js';

/** POST /send, with the Idempotency-Key header honoured when present. Keys are per API key. */
export async function handleSend(s: Services, request: FastifyRequest, body: SendRequest, reply: FastifyReply) {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return reply.status(201).send(await s.send.send(body, { principal: request.principal }));
  const key = Array.isArray(header) ? header.join(',') : header;
  checkIdempotencyKey(key);
  const p = request.principal;
  const scope = p?.keyId ?? `token:${p?.name ?? 'anonymous'}`;
  const r = await idempotent(s.db, scope, key, body, async (h) => {
    const result = await s.send.send(body, {
      principal: p,
      hooks: { before: h.before, after: (trx, items) => h.after(trx, { status: 201, body: { items } }) },
    });
    return { status: 201, body: result };
  });
  return reply.status(r.status).header('idempotent-replayed', String(r.replayed)).send(r.body);
}
