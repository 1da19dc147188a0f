import { Type } from '@fastify/type-provider-typebox';
import { NullableDateTime, NullableString, StringEnum } from '../platform/http/schemas.js';

/** An API key as listed: never its token (keyView). */
export const KeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scope: StringEnum(['admin', 'send'] as const),
  prefix: Type.String({ description: 'The first characters of the token, to tell keys apart' }),
  allowed_from: Type.Union([Type.Array(Type.String()), Type.Null()], {
    description: 'The From domains or addresses this key may use (within FROM_ALLOWED_DOMAINS); null: any of those',
  }),
  created_by: NullableString,
  created_at: NullableDateTime,
  last_used_at: NullableDateTime,
  revoked_at: NullableDateTime,
});

export const KeyList = Type.Object({ items: Type.Array(KeyView), total: Type.Integer() });

export const CreatedKey = Type.Object({
  ...KeyView.properties,
  token: Type.String({ description: 'The token, shown this once: only its hash is stored' }),
});

export const CreateKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    scope: Type.Union([Type.Literal('admin'), Type.Literal('send')]),
    allowed_from: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 320 }), {
        minItems: 1,
        maxItems: 100,
        description:
          'Domains ("example.com") or addresses the key may send as; absent: any FROM_ALLOWED_DOMAINS allows',
      }),
    ),
  },
  { additionalProperties: false },
);
