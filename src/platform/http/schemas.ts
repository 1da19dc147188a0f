import { type Static, type TSchema, type TUnsafe, Type } from '@fastify/type-provider-typebox';
import { MESSAGE_STATUSES } from '../db/schema.js';

/**
 * Building blocks of response schemas. A route's response schema is also its serializer
 * (fast-json-stringify): a property it does not list is dropped, so each schema lists everything
 * its handler returns (tests check every answer against it, see src/http/response-check.ts).
 * Nullable values are a type list, not an anyOf: fast-json-stringify compiles and runs a type
 * list several times faster, and @fastify/swagger writes it as OpenAPI 3.0's `nullable`.
 */

/** The one error shape of every 4xx and 5xx JSON answer (src/http/errors.ts writes it). */
export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Machine-readable: template_not_found, invalid_request, …' }),
      message: Type.String(),
      details: Type.Optional(
        Type.Unknown({ description: 'For some codes: the field, the missing variables, the validation errors, …' }),
      ),
    }),
  },
  { description: 'An error' },
);

/** ErrorBody for each of these statuses. */
export const errors = (...statuses: number[]): Record<number, typeof ErrorBody> =>
  Object.fromEntries(statuses.map((s) => [s, ErrorBody]));

type Primitive = 'string' | 'integer' | 'number' | 'boolean';

/** `T | null` for a string, number or boolean schema. */
export function Nullable<T extends TSchema & { type: Primitive }>(schema: T): TUnsafe<Static<T> | null> {
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] });
}

/** A string from a closed set (an enum, which serializes as fast as a plain string). */
export const StringEnum = <T extends string>(
  values: readonly T[],
  options: { description?: string } = {},
): TUnsafe<T> => Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });

export const DateTime = Type.String({ format: 'date-time' });
export const NullableDateTime = Nullable(DateTime);
export const NullableString = Nullable(Type.String());
export const NullableInteger = Nullable(Type.Integer());
/** A template version a caller names: the column is a 32-bit integer on PostgreSQL. */
export const VersionNumber = (description?: string) =>
  Type.Integer({ minimum: 1, maximum: 2_147_483_647, ...(description ? { description } : {}) });

/** A message's status (email_messages.status). */
export const MessageStatus = StringEnum(MESSAGE_STATUSES);

/** What a send answers per recipient (the send API, a test send, a resend). */
export const SendResultItem = Type.Object({
  id: Type.String({ format: 'uuid' }),
  to: Type.String(),
  status: MessageStatus,
});

/** Any JSON object (free-form: template variables, event data). */
export const AnyObject = Type.Record(Type.String(), Type.Unknown());

/** A non-JSON answer: its media types, each a string of bytes or text. */
export const Bytes = (description: string, mediaTypes: string[], format: 'binary' | 'text' = 'binary') => ({
  description,
  content: Object.fromEntries(
    mediaTypes.map((m) => [
      m,
      { schema: format === 'binary' ? { type: 'string', format: 'binary' } : { type: 'string' } },
    ]),
  ),
});

/** A file download (platform/http/download.ts): its bytes, in the file's own content type. */
export const Download = Bytes('The file, with its own content type, as an attachment', ['application/octet-stream']);
