import { Ajv } from 'ajv';
import formatsPlugin from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import fastJsonStringify from 'fast-json-stringify';

const addFormats = formatsPlugin as unknown as (ajv: Ajv) => Ajv;
type Validate = ReturnType<Ajv['compile']>;
let validators: { strict: Ajv; lenient: Ajv } | undefined;
const compiledValidators = new Map<string, Validate>();
const serializers = new Map<string, (data: unknown) => string>();

/** What `compile` made from a schema with this JSON text (and, for a validator, this part's options). */
export function compiledOnce<T>(cache: Map<string, T>, key: string, schema: unknown, compile: () => T): T {
  const text = `${key}\n${JSON.stringify(schema)}`;
  let compiled = cache.get(text);
  if (!compiled) {
    compiled = compile();
    cache.set(text, compiled);
  }
  return compiled;
}

/**
 * Bodies are validated strictly: wrong types are refused, never coerced, and unknown fields are
 * refused where a schema says additionalProperties: false (Fastify's default would strip them
 * silently). Query strings and path parameters are text, so those are coerced.
 *
 * What is compiled from a schema is the process's, shared by every app it builds, so an app built
 * again in the same process (the tests build hundreds) compiles nothing again. It is kept by the
 * schema's JSON text, not its object: a route that writes its parameters' schema where it is
 * declared makes a new object per app, and Fastify makes a new one for every headers schema. The
 * text is all a compiler reads (TypeBox's markers are symbols, which neither compiler reads), and
 * schemas are the app's own, never a request's: the map holds one entry per distinct schema. The
 * response serializers are what Fastify's default compiler makes (fast-json-stringify, no shared
 * schemas: this app adds none).
 */
export function registerValidation(app: FastifyInstance): void {
  validators ??= {
    strict: addFormats(
      new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: true, strict: false }),
    ),
    lenient: addFormats(
      new Ajv({ allErrors: false, coerceTypes: 'array', removeAdditional: false, useDefaults: true, strict: false }),
    ),
  };
  const { strict, lenient } = validators;
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const body = httpPart === 'body';
    return compiledOnce(compiledValidators, body ? 'strict' : 'lenient', schema, () =>
      (body ? strict : lenient).compile(schema),
    );
  });
  app.setSerializerCompiler(({ schema }) =>
    compiledOnce(serializers, 'serializer', schema, () =>
      fastJsonStringify(schema as Parameters<typeof fastJsonStringify>[0]),
    ),
  );
}
