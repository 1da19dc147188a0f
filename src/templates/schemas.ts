import { Type } from '@fastify/type-provider-typebox';
import {
  AnyObject,
  NullableDateTime,
  NullableString,
  SendResultItem,
  StringEnum,
  VersionNumber,
} from '../platform/http/schemas.js';

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

/** As a send's category (accept/options.ts): what the search's `category:` and the filters can name. */
const Category = Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,49}$' });

const Fields = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  category: Type.Optional(Category),
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
  {
    key: Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,99}$' }),
    ...Fields,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    category: Category,
  },
  { additionalProperties: false },
);

export const UpdateBody = Type.Object(
  { ...Fields, base_version: Type.Optional(VersionNumber()) },
  { additionalProperties: false, minProperties: 1 },
);

export const TestBody = Type.Object(
  {
    variables: Type.Optional(Variables),
    to: Type.Optional(
      Type.Union([Type.String({ maxLength: 20_000 }), Type.Array(Type.String({ maxLength: 320 }), { maxItems: 50 })]),
    ),
    version: Type.Optional(VersionNumber()),
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

// ---- answers ----

const Priority = StringEnum(['urgent', 'normal', 'low'] as const);
const LocaleContentView = Type.Object({
  subject: Type.String(),
  html_content: Type.String(),
  text_content: NullableString,
});

/** A template as the API shows it: one version's definition (every locale) and its history fields. */
export const TemplateView = Type.Object({
  key: Type.String(),
  name: Type.String(),
  description: Type.String(),
  category: Type.String(),
  class: Type.String(),
  priority: Priority,
  max_attempts: Type.Integer(),
  attachments_allowed: Type.Boolean(),
  layout: NullableString,
  default_locale: Type.String(),
  required_variables: Type.Array(Type.String()),
  optional_variables: Type.Array(Type.String()),
  sensitive_variables: Type.Array(Type.String()),
  sample_variables: AnyObject,
  locales: Type.Record(Type.String(), LocaleContentView),
  is_active: Type.Boolean(),
  active_version: Type.Integer(),
  version: Type.Integer({ description: 'The version shown' }),
  subject: Type.String({ description: "The default locale's subject" }),
  html_content: Type.String(),
  text_content: NullableString,
  created_by: NullableString,
  created_at: NullableDateTime,
  updated_by: NullableString,
  updated_at: NullableDateTime,
  version_created_by: NullableString,
  version_created_at: NullableDateTime,
});

export const SaveOutcomeView = Type.Object({
  key: Type.String(),
  action: StringEnum(['created', 'new_version', 'unchanged'] as const),
  version: Type.Integer(),
  metadata_updated: Type.Boolean(),
});

/** A create or an edit: the template as saved, and what the save did. */
export const SavedTemplate = Type.Object({ ...TemplateView.properties, saved: SaveOutcomeView });

export const TemplateList = Type.Object({
  items: Type.Array(
    Type.Object({
      key: Type.String(),
      name: Type.String(),
      subject: Type.String(),
      category: Type.String(),
      class: Type.String(),
      version: Type.Integer(),
      is_active: Type.Boolean(),
    }),
  ),
  total: Type.Integer(),
});

export const LayoutList = Type.Object({ items: Type.Array(Type.String()), total: Type.Integer() });

export const VersionList = Type.Object({
  key: Type.String(),
  active_version: Type.Integer(),
  is_active: Type.Boolean(),
  items: Type.Array(
    Type.Object({
      version: Type.Integer(),
      active: Type.Boolean(),
      comment: NullableString,
      default_locale: Type.String(),
      locales: Type.Array(Type.String()),
      layout: NullableString,
      created_by: NullableString,
      created_at: NullableDateTime,
    }),
  ),
  total: Type.Integer(),
});

/** A test render of a saved version, and the messages when it was sent (`to`). */
export const TestResult = Type.Object({
  template_key: Type.String(),
  version: Type.Integer(),
  locale: Type.String(),
  subject: Type.String(),
  html: Type.String(),
  text: Type.String(),
  missing_variables: Type.Array(Type.String()),
  messages: Type.Optional(Type.Array(SendResultItem)),
});

/** An editor's preview: every problem is data, never a 4xx; null parts when it could not render. */
export const PreviewResult = Type.Object({
  subject: NullableString,
  html: NullableString,
  text: NullableString,
  missing_variables: Type.Array(Type.String()),
  errors: Type.Array(
    Type.Object({
      part: Type.String(),
      line: Type.Optional(Type.Integer()),
      column: Type.Optional(Type.Integer()),
      message: Type.String(),
    }),
  ),
  variables: Type.Union([
    Type.Object({
      used: Type.Array(Type.String()),
      undeclared: Type.Array(Type.String()),
      unused: Type.Array(Type.String()),
    }),
    Type.Null(),
  ]),
});
