import { Type } from '@fastify/type-provider-typebox';

/** Request bodies of the template endpoints: validation and TypeScript types from one place. */

const VariableName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,99}$' });
const VariableList = Type.Array(VariableName, { maxItems: 200, uniqueItems: true });
export const LocaleName = Type.String({ pattern: '^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$' });
export const Variables = Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), { maxProperties: 500 });

const Subject = Type.String({ minLength: 1, maxLength: 2000 });
const Html = Type.String({ minLength: 1, maxLength: 500_000 });
const Text = Type.Union([Type.String({ maxLength: 500_000 }), Type.Null()]);

const LocaleChange = Type.Object(
  { subject: Type.Optional(Subject), html_content: Type.Optional(Html), text_content: Type.Optional(Text) },
  { additionalProperties: false },
);

const Fields = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  category: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })),
  class: Type.Optional(Type.String({ pattern: '^[a-z0-9_]{1,50}$' })),
  priority: Type.Optional(Type.Union([Type.Literal('urgent'), Type.Literal('normal'), Type.Literal('low')])),
  max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })),
  attachments_allowed: Type.Optional(Type.Boolean()),
  layout: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 100 }), Type.Null()])),
  default_locale: Type.Optional(LocaleName),
  required_variables: Type.Optional(VariableList),
  optional_variables: Type.Optional(VariableList),
  sensitive_variables: Type.Optional(VariableList),
  sample_variables: Type.Optional(Variables),
  subject: Type.Optional(Subject),
  html_content: Type.Optional(Html),
  text_content: Type.Optional(Text),
  locales: Type.Optional(Type.Record(LocaleName, Type.Union([LocaleChange, Type.Null()]), { maxProperties: 50 })),
  comment: Type.Optional(Type.String({ maxLength: 1000 })),
};

export const CreateBody = Type.Object(
  { key: Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,99}$' }), ...Fields, name: Type.String({ minLength: 1, maxLength: 200 }), category: Type.String({ minLength: 1, maxLength: 50 }) },
  { additionalProperties: false },
);

export const UpdateBody = Type.Object(
  { ...Fields, base_version: Type.Optional(Type.Integer({ minimum: 1 })) },
  { additionalProperties: false, minProperties: 1 },
);

export const TestBody = Type.Object(
  {
    variables: Type.Optional(Variables),
    to: Type.Optional(Type.Union([Type.String({ maxLength: 20_000 }), Type.Array(Type.String({ maxLength: 320 }), { maxItems: 50 })])),
    version: Type.Optional(Type.Integer({ minimum: 1 })),
    locale: Type.Optional(LocaleName),
  },
  { additionalProperties: false },
);

export const PreviewBody = Type.Object(
  {
    subject: Type.String({ maxLength: 2000 }),
    html_content: Type.String({ maxLength: 500_000 }),
    text_content: Type.Optional(Text),
    layout: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 100 }), Type.Null()])),
    variables: Type.Optional(Variables),
    locale: Type.Optional(LocaleName),
    required_variables: Type.Optional(VariableList),
    optional_variables: Type.Optional(VariableList),
    sensitive_variables: Type.Optional(VariableList),
  },
  { additionalProperties: false },
);

export const KeyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 100 }) });
