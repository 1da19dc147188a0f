import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { refusedAfterMigration } from '../platform/db/database.js';
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
    /Connection terminated|timeout exceeded when trying to connect|not queryable/i.test(String((e as Error).message)) ||
    // PostgreSQL refused a statement prepared before another process's migration: it is prepared afresh, so the retry passes.
    refusedAfterMigration(e)
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

/**
 * Fastify's `frameworkErrors`: what its router refuses before any route runs gets the API's
 * error shape too, and never echoes the path (up to the header limit, 16 KB, of client input).
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH')
    void reply
      .status(414)
      .send({ error: { code: 'uri_too_long', message: 'A path segment is longer than 12,100 characters' } });
  else if (error.code === 'FST_ERR_BAD_URL')
    void reply
      .status(400)
      .send({ error: { code: 'invalid_url', message: 'The path holds an invalid percent-encoded character' } });
  else void reply.status(400).send({ error: { code: 'invalid_request', message: 'The request cannot be routed' } });
}

const CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'The request took too long to arrive' },
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'headers_too_large',
    message: 'The request line and headers are over 16 KB',
  },
};

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refuses (headers over its limit,
 * a malformed request line, a timeout) is answered in the API's error shape, then the socket closed.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = CLIENT_ERRORS[err.code ?? ''] ?? {
    status: 400,
    code: 'bad_request',
    message: 'Malformed HTTP request',
  };
  const body = JSON.stringify({ error: { code: known.code, message: known.message } });
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${known.status} ${STATUS_CODES[known.status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(err);
}

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
    // Before the outage test: a client that drops its connection mid-body is an ECONNRESET that
    // Fastify marks 400, not a database gone.
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send({ error: { code: 'invalid_request', message: fe.message } });
    }
    if (isOutage(error)) {
      request.log.error({ err: error }, 'storage unavailable');
      return reply
        .status(503)
        .header('retry-after', '5')
        .send({ error: { code: 'unavailable', message: 'Storage is unavailable; retry later' } });
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
