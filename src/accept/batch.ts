import { Ajv } from 'ajv';
import formatsPlugin from 'ajv-formats';
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { decodedBase64 } from '../platform/http/large-json.js';
import type { AttachmentInput } from './attachments.js';
import { checkIdempotencyKey, claim, idempotencyScope, lost } from './idempotency.js';
import { BatchBody } from './schemas.js';
import type { BatchEntry, SendRequest, SendResultItem, SendService } from './send.service.js';

export type BatchItem =
  | { index: number; items: SendResultItem[] }
  | { index: number; error: { code: string; message: string; details?: unknown } };

type Message = SendRequest & { idempotency_key?: string };

// The same rules as every request body (src/http/validation.ts): strict types, unknown fields refused.
const addFormats = formatsPlugin as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(
  new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: true, strict: false }),
);
const validMessage = ajv.compile<Message>(BatchBody.properties.messages.items);

/** Causes that mean "try again later" (as the HTTP error handler's 503), for one message of a batch. */
function isOutage(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return (
    typeof code === 'string' && (/^SQLITE_(BUSY|FULL|IOERR|CANTOPEN|READONLY)/.test(code) || /^(08|53|57P)/.test(code))
  );
}

function errorItem(index: number, e: unknown, request: FastifyRequest): BatchItem {
  if (e instanceof AppError) {
    return {
      index,
      error: { code: e.code, message: e.message, ...(e.details !== undefined ? { details: e.details } : {}) },
    };
  }
  request.log.error({ err: e, index }, 'batch message not stored');
  return isOutage(e)
    ? { index, error: { code: 'unavailable', message: 'Storage is unavailable; retry this message later' } }
    : { index, error: { code: 'internal', message: 'Internal error' } };
}

/**
 * POST /api/v1/email/batch: each message is checked against the send schema here, claims its
 * idempotency key (an earlier answer is replayed in its place), and the rest go to sendMany in
 * one commit. The answer holds one entry per message, in order, and is sent after that commit.
 */
export async function sendBatch(
  send: SendService,
  db: Kysely<DB>,
  request: FastifyRequest,
  messages: unknown[],
): Promise<BatchItem[]> {
  const principal = request.principal;
  const scope = idempotencyScope(principal);
  const out: BatchItem[] = new Array(messages.length);
  const entries: BatchEntry[] = [];
  const pending: Array<{ index: number; key?: string; hash?: string }> = [];
  const decoded = (a: AttachmentInput) =>
    (typeof a.data_base64 === 'string' && decodedBase64(request, a.data_base64)) || a.data_base64;

  for (const [index, m] of messages.entries()) {
    if (!validMessage(m)) {
      const details = (validMessage.errors ?? []).map((v) => ({
        path: v.instancePath || '/',
        message: v.message,
        ...(v.params ? { params: v.params } : {}),
      }));
      const where = details[0] ? `${details[0].path} ${details[0].message}` : 'invalid';
      out[index] = {
        index,
        error: { code: 'invalid_request', message: `Invalid messages[${index}]: ${where}`, details },
      };
      continue;
    }
    const { idempotency_key: key, ...body } = m;
    const input: SendRequest = body.attachments
      ? { ...body, attachments: body.attachments.map((a) => ({ ...a, data_base64: decoded(a) })) }
      : body;
    if (key === undefined) {
      entries.push({ request: input });
      pending.push({ index });
      continue;
    }
    try {
      checkIdempotencyKey(key, 'field');
      // Hashed as a single send's body is: the same message under the same key replays whichever door it came by.
      const c = await claim(db, scope, key, body);
      if ('replayed' in c) {
        out[index] = { index, items: (c.body as { items: SendResultItem[] }).items };
        continue;
      }
      entries.push({
        request: input,
        hooks: { before: c.hooks.before, after: (trx, items) => c.hooks.after(trx, { status: 201, body: { items } }) },
      });
      pending.push({ index, key, hash: c.hash });
    } catch (e) {
      out[index] = errorItem(index, e, request);
    }
  }

  const outcomes = await send.sendMany(entries, { principal, source: 'batch' });
  for (const [j, o] of outcomes.entries()) {
    const { index, key, hash } = pending[j]!;
    if (o.ok) {
      out[index] = { index, items: o.items };
      continue;
    }
    try {
      // Its key was taken meanwhile (by another request, or an earlier message of this batch): that answer, or 409.
      if (key === undefined || hash === undefined) throw o.error;
      const winner = await lost(db, scope, key, hash, o.error);
      out[index] = { index, items: (winner.body as { items: SendResultItem[] }).items };
    } catch (e) {
      out[index] = errorItem(index, e, request);
    }
  }
  request.log.debug({ messages: messages.length, stored: outcomes.filter((o) => o.ok).length }, 'batch accepted');
  return out;
}
