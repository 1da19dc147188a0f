import { Ajv } from 'ajv';
import formatsPlugin from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

/**
 * Bodies are validated strictly: wrong types are refused, never coerced, and unknown fields are
 * refused where a schema says additionalProperties: false (Fastify's default would strip them
 * silently). Query strings and path parameters are text, so those are coerced.
 */
export function registerValidation(app: FastifyInstance): void {
  const addFormats = formatsPlugin as unknown as (ajv: Ajv) => Ajv;
  const strict = addFormats(
    new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: true, strict: false }),
  );
  const lenient = addFormats(
    new Ajv({ allErrors: false, coerceTypes: 'array', removeAdditional: false, useDefaults: true, strict: false }),
  );
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : lenient).compile(schema));
}
