import { Type } from '@fastify/type-provider-typebox';
import { SendResultItem, VersionNumber } from '../platform/http/schemas.js';

const Recipients = Type.Union([
  Type.String({ maxLength: 20_000 }),
  Type.Array(Type.String({ maxLength: 320 }), { maxItems: 1000 }),
]);

const SendFields = {
  to: Recipients,
  template_key: Type.Optional(
    Type.String({ minLength: 1, maxLength: 100, description: 'A stored template; without it, a raw send' }),
  ),
  variables: Type.Optional(Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), { maxProperties: 500 })),
  attachments: Type.Optional(
    Type.Array(
      Type.Object(
        {
          filename: Type.String({ minLength: 1, maxLength: 255 }),
          content_type: Type.String({ minLength: 1, maxLength: 100 }),
          data_base64: Type.String({ description: 'The file, base64; empty for an empty csv or txt file' }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 20 },
    ),
  ),
  cc: Type.Optional(Recipients),
  bcc: Type.Optional(Recipients),
  reply_to: Type.Optional(Type.String({ maxLength: 320 })),
  locale: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$' })),
  template_version: Type.Optional(VersionNumber()),
  send_at: Type.Optional(Type.String({ format: 'date-time' })),
  from: Type.Optional(
    Type.String({
      minLength: 3,
      maxLength: 600,
      description:
        '"Name <address>" or an address; default SMTP_FROM_NAME <SMTP_FROM_EMAIL>. Must be allowed (403 from_not_allowed)',
    }),
  ),
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 998, description: 'Raw sends: required' })),
  html: Type.Optional(Type.String({ description: 'Raw sends: the HTML body (html and/or text)' })),
  text: Type.Optional(Type.String({ description: 'Raw sends: the text body; derived from html when absent' })),
  category: Type.Optional(
    Type.String({ minLength: 1, maxLength: 50, description: "Default: the template's, or general for a raw send" }),
  ),
  class: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 50,
      description: 'Raw sends: transactional (default) or marketing (rate limits and List-Unsubscribe follow it)',
    }),
  ),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 20 })),
  metadata: Type.Optional(
    Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), {
      description: 'A JSON object, at most 4 KB as JSON',
    }),
  ),
};

/** POST /api/v1/email/send: a template and its variables, or a raw send (subject, html and/or text). */
export const SendBody = Type.Object(SendFields, { additionalProperties: false });

export const MAX_BATCH = 500;

/** POST /api/v1/email/batch: independent sends, each with its own optional idempotency key. */
export const BatchBody = Type.Object(
  {
    messages: Type.Array(
      Type.Object(
        {
          ...SendFields,
          idempotency_key: Type.Optional(
            Type.String({ minLength: 1, maxLength: 255, description: "Behaves as a single send's Idempotency-Key" }),
          ),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_BATCH },
    ),
  },
  { additionalProperties: false },
);

/** 200: one entry per message of the request, in its order: its messages, or its own error. */
export const BatchResult = Type.Object({
  items: Type.Array(
    Type.Union([
      Type.Object({ index: Type.Integer(), items: Type.Array(SendResultItem) }),
      Type.Object({
        index: Type.Integer(),
        error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
      }),
    ]),
  ),
});

/** 201: one message per recipient (a suppressed or rate-limited one says so in its status). */
export const SendResult = Type.Object(
  { items: Type.Array(SendResultItem) },
  { description: 'One message per recipient' },
);
