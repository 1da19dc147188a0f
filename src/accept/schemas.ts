import { Type } from '@fastify/type-provider-typebox';
import { SendResultItem } from '../platform/http/schemas.js';

const Recipients = Type.Union([
  Type.String({ maxLength: 20_000 }),
  Type.Array(Type.String({ maxLength: 320 }), { maxItems: 1000 }),
]);

/** POST /api/v1/email/send. */
export const SendBody = Type.Object(
  {
    to: Recipients,
    template_key: Type.String({ minLength: 1, maxLength: 100 }),
    variables: Type.Optional(Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), { maxProperties: 500 })),
    attachments: Type.Optional(
      Type.Array(
        Type.Object(
          {
            filename: Type.String({ minLength: 1, maxLength: 255 }),
            content_type: Type.String({ minLength: 1, maxLength: 100 }),
            data_base64: Type.String({ minLength: 1 }),
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
    template_version: Type.Optional(Type.Integer({ minimum: 1 })),
    send_at: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);

/** 201: one message per recipient (a suppressed or rate-limited one says so in its status). */
export const SendResult = Type.Object(
  { items: Type.Array(SendResultItem) },
  { description: 'One message per recipient' },
);
