import { Ajv } from 'ajv';
import formatsPlugin from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import fastJsonStringify from 'fast-json-stringify';

const addFormats = formatsPlugin as unknown as (ajv: Ajv) => Ajv;
let validators: { strict: Ajv; lenient: Ajv } | undefined;
const serializers = new WeakMap<object, (data: unknown) => string>();

/**
 * Bodies are validated strictly: wrong types are refused, never coerced, and unknown fields are
 * refused where a schema says additionalProperties: false (Fastify's default would strip them
 * silently). Query strings and path parameters are text, so those are coerced.
 *
 * What is compiled from a schema is the process's, shared by every app it builds: the routes'
 * schemas are module constants, so an app built again in the same process (the tests build
 * hundreds, each in about 150 ms of which most was compiling) reuses them. Ajv keeps what it
 * compiled by schema object; the response serializers are what Fastify's default compiler makes
 * (fast-json-stringify, no shared schemas: this app adds none), kept by schema object.
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
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : lenient).compile(schema));
  app.setSerializerCompiler(({ schema }) => {
    let serialize = serializers.get(schema);
    if (!serialize) {
      serialize = fastJsonStringify(schema as Parameters<typeof fastJsonStringify>[0]);
      serializers.set(schema, serialize);
    }
    return serialize;
  });
}
