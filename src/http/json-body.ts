import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../platform/errors.js';
import { parseBody, readBody } from '../platform/http/large-json.js';

/** True when any string (key or value) in a parsed JSON value holds a NUL character. */
function holdsNul(value: unknown): boolean {
  // Iterative: bodies may be nested tens of thousands deep.
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return true;
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (k.includes('\u0000')) return true;
        stack.push(child);
      }
    }
  }
  return false;
}

/**
 * JSON bodies, read with Fastify's own parser (prototype-poisoning checks included), with three
 * additions: NUL characters are refused anywhere (PostgreSQL text cannot hold them and no email
 * field may carry one); a JSON body sent as application/x-www-form-urlencoded is read as JSON,
 * because the specification's curl examples post JSON without a Content-Type; and the long
 * base64 strings of a large body are decoded without becoming strings, on the routes that ask
 * (large-json.ts), so a request's memory stays within a few times its size.
 */
export function registerJsonBodies(app: FastifyInstance): void {
  const fastifyParse = app.getDefaultJsonParser('error', 'error');
  const parse = (request: FastifyRequest, text: string) =>
    new Promise<unknown>((resolve, reject) =>
      fastifyParse(request, text, (err: Error | null, value?: unknown) => (err ? reject(err) : resolve(value))),
    );
  const parser = async (request: FastifyRequest, payload: Readable): Promise<unknown> => {
    const raw = await readBody(request, payload);
    const large = await parseBody(request, raw, (text) => parse(request, text));
    if (large) return large.value;
    const text = raw.toString('utf8');
    const value = await parse(request, text);
    // JSON can only carry NUL as the escape \u0000: walk the value only when that text is there.
    if (text.includes('\\u0000') && holdsNul(value))
      throw new AppError('invalid_request', 'NUL characters (\\u0000) are not accepted in a request body');
    return value;
  };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', parser);
  app.addContentTypeParser('application/x-www-form-urlencoded', parser);
}
