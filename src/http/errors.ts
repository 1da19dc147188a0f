import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError } from '../platform/errors.js';

/** Database failures that mean "try again later", not "your request is wrong". */
function isOutage(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return (
    (typeof code === 'string' &&
      [
        'SQLITE_FULL',
        'SQLITE_BUSY',
        'SQLITE_IOERR',
        'SQLITE_CANTOPEN',
        'SQLITE_READONLY',
        'ECONNREFUSED',
        'ECONNRESET',
        'ETIMEDOUT',
        '57P01',
        '57P03',
        '53300',
        '08006',
        '08001',
        '08003',
      ].some((c) => code.startsWith(c))) ||
    /Connection terminated|timeout exceeded when trying to connect|not queryable/i.test(String((e as Error).message))
  );
}

const FASTIFY_CODES: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json', message: 'The request body is empty' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large', message: 'The request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    message: 'Send JSON (Content-Type: application/json)',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_request' },
};

/** One error shape for every failure: `{error:{code, message, details?}}`; no stack ever leaves. */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | AppError | Error, request, reply) => {
    if (error instanceof AppError) {
      if (error.status >= 500) request.log.error({ err: error }, error.message);
      return reply.status(error.status).send({
        error: {
          code: error.code,
          message: error.message,
          ...(error.details !== undefined ? { details: error.details } : {}),
        },
      });
    }
    const fe = error as FastifyError;
    if (fe.validation) {
      const details = fe.validation.map((v) => ({
        path: v.instancePath || '/',
        message: v.message,
        ...(v.params ? { params: v.params } : {}),
      }));
      const where = fe.validationContext ?? 'body';
      return reply.status(400).send({
        error: {
          code: 'invalid_request',
          message: `Invalid ${where}: ${fe.message.replace(/^(body|querystring|params|headers)\/?/, '')}`,
          details,
        },
      });
    }
    const known = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    if (known) {
      return reply.status(known.status).send({ error: { code: known.code, message: known.message ?? fe.message } });
    }
    if (error instanceof SyntaxError || (fe.statusCode === 400 && /JSON|prototype|constructor/i.test(fe.message))) {
      return reply.status(400).send({ error: { code: 'invalid_json', message: `Malformed JSON: ${fe.message}` } });
    }
    if (isOutage(error)) {
      request.log.error({ err: error }, 'storage unavailable');
      return reply
        .status(503)
        .header('retry-after', '5')
        .send({ error: { code: 'unavailable', message: 'Storage is unavailable; retry later' } });
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send({ error: { code: 'invalid_request', message: fe.message } });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.status(500).send({ error: { code: 'internal', message: 'Internal error' } });
  });

  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: { code: 'not_found', message: `No route ${request.method} ${request.url.split('?')[0]}` } }),
  );
}
