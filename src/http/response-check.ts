import { Ajv, type ValidateFunction } from 'ajv';
import formatsPlugin from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { compiledOnce } from './validation.js';

type Schema = Record<string, unknown>;

/** The schema with every object closed: a property it does not list is an error here. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema)) {
    const each = k === 'properties' || k === 'patternProperties';
    out[k] = each ? Object.fromEntries(Object.entries(v as Schema).map(([p, s]) => [p, closed(s)])) : closed(v);
  }
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

let checker: Ajv | undefined;
/** What the check compiled, the process's like the validators (validation.ts). */
const compiled = new Map<string, ValidateFunction>();

/**
 * For tests: every JSON answer is checked against its route's response schema for its status,
 * objects closed and nothing coerced. In production the schema is the serializer, which would
 * silently drop a property it does not list, or turn a value of the wrong type into another;
 * here either fails the request (500) and is printed, so an incomplete schema cannot pass the
 * suite. A JSON answer from a route or status without a schema fails too (hidden documentation
 * routes aside).
 */
export function checkResponses(app: FastifyInstance): void {
  const addFormats = formatsPlugin as unknown as (ajv: Ajv) => Ajv;
  checker ??= addFormats(new Ajv({ allErrors: true, strict: false, coerceTypes: false, useDefaults: false }));
  const ajv = checker;
  app.addHook('preSerialization', async (request, reply, payload) => {
    const where = `${request.method} ${request.routeOptions.url ?? request.url} → ${reply.statusCode}`;
    // The not-found handler answers for no route.
    if (request.routeOptions.url === undefined) return payload;
    const responses = request.routeOptions.schema?.response as Record<string, Schema> | undefined;
    // The documentation's own routes (the OpenAPI document, Swagger UI) are not the API.
    if (!responses && request.routeOptions.schema?.hide) return payload;
    let schema = responses?.[reply.statusCode] ?? responses?.[`${String(reply.statusCode)[0]}xx`];
    if (schema?.content) schema = (schema.content as Record<string, { schema: Schema }>)['application/json']?.schema;
    const fail = (why: string) => {
      console.error(`response check: ${where}: ${why}\n${JSON.stringify(payload).slice(0, 2000)}`);
      throw new Error(`response check: ${where}: ${why}`);
    };
    if (!schema) return fail('no response schema for this status');
    const validate = compiledOnce(compiled, 'closed', schema, () => ajv.compile(closed(schema) as Schema));
    if (!validate(payload)) fail(ajv.errorsText(validate.errors));
    return payload;
  });
}
