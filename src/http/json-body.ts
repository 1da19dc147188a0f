import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../platform/errors.js';
import { decodedBase64, parseBody, readBody } from '../platform/http/large-json.js';
import { type JsonCheck, jsonFault, MAX_JSON_DEPTH, SURROGATE_ESCAPE } from '../platform/json-check.js';

/** jsonFault as the API's 400s. */
function checkBody(value: unknown, opts: JsonCheck): void {
  const fault = jsonFault(value, opts);
  if (fault === 'depth')
    throw new AppError('invalid_json', `The request body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (fault === 'nul')
    throw new AppError('invalid_request', 'NUL characters (\\u0000) are not accepted in a request body');
  if (fault === 'unicode')
    throw new AppError(
      'invalid_request',
      'A string of the body holds an unpaired surrogate (a \\ud800–\\udfff escape alone): send well-formed Unicode',
    );
}

/**
 * JSON bodies, read with Fastify's own parser (prototype-poisoning checks included), with three
 * additions: what jsonFault finds is refused (nesting past 64 levels, NUL characters, unpaired
 * surrogates); a JSON body sent as application/x-www-form-urlencoded is read as JSON,
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
    if (large) {
      checkBody(large.value, { nul: true, unicode: true, marker: (s) => decodedBase64(request, s) !== undefined });
      return large.value;
    }
    const text = raw.toString('utf8');
    const value = await parse(request, text);
    // JSON can only carry NUL as the escape \u0000 and a lone surrogate as an escape too: strings
    // are looked at only when such an escape is in the text.
    checkBody(value, { nul: text.includes('\\u0000'), unicode: SURROGATE_ESCAPE.test(text) });
    return value;
  };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', parser);
  app.addContentTypeParser('application/x-www-form-urlencoded', parser);
}

/**
 * A NUL character (`%00`) in a request's path or query string is refused before routing, as in a
 * body: no id, key, address or search term holds one, and PostgreSQL text cannot.
 */
export function refuseNulInUrls(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (request.url.includes('%00'))
      throw new AppError('invalid_request', 'NUL characters (%00) are not accepted in a URL');
  });
}
