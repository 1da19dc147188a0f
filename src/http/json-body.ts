import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../shared/errors.js';

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
 * JSON bodies, read with Fastify's own parser (prototype-poisoning checks included), with two
 * additions: NUL characters are refused anywhere (PostgreSQL text cannot hold them and no email
 * field may carry one), and a JSON body sent as application/x-www-form-urlencoded is read as
 * JSON, because the specification's curl examples post JSON without a Content-Type.
 */
export function registerJsonBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  const parser = (request: FastifyRequest, body: string | Buffer, done: (err: Error | null, value?: unknown) => void) =>
    parse(request, body as string, (err: Error | null, value?: unknown) => {
      if (err) return done(err);
      // JSON can only carry NUL as the escape \u0000: walk the value only when that text is there.
      if ((body as string).includes('\\u0000') && holdsNul(value)) {
        return done(new AppError('invalid_request', 'NUL characters (\\u0000) are not accepted in a request body'));
      }
      done(null, value);
    });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parser);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, parser);
}
