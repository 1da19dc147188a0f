import { Type } from '@fastify/type-provider-typebox';
import { StringEnum } from '../platform/http/schemas.js';

/** The response schemas of the checks, shared by the capture inbox and the archive routes. */

export const LinkCheckItem = Type.Object({
  url: Type.String(),
  tag: Type.String(),
  attribute: Type.String(),
  masked: Type.Boolean({
    description: 'The URL holds a sensitive value the archive masks: shown masked, its host not judged',
  }),
  problems: Type.Array(StringEnum(['unsafe_scheme', 'not_https', 'local_host', 'empty', 'unparsable'] as const)),
});

export const LinkCheckList = Type.Array(LinkCheckItem, {
  description: 'Every href and src, checked without any request',
});

const Percent = Type.Number({ minimum: 0, maximum: 100 });

export const HtmlCheckResult = Type.Object({
  score: Type.Union(
    [
      Type.Object({
        supported: Percent,
        partial: Percent,
        unsupported: Percent,
      }),
      Type.Null(),
    ],
    {
      description:
        'The support of the features found, in percent of the clients tested, each feature weighted by how many times it is used (unknown support left out); null without HTML',
    },
  ),
  features: Type.Array(
    Type.Object({
      slug: Type.String({ description: "caniemail's feature: html-svg, css-display-flex, …" }),
      title: Type.String(),
      url: Type.String({ description: 'Its page on caniemail.com' }),
      category: Type.String({ description: 'html, css, image or others' }),
      count: Type.Integer({ description: 'How many times the HTML uses it' }),
      supported: Percent,
      partial: Percent,
      unsupported: Percent,
      unknown: Percent,
      clients: Type.Array(
        Type.Object({
          family: Type.String(),
          family_name: Type.String(),
          platforms: Type.Array(
            Type.Object({
              platform: Type.String(),
              platform_name: Type.String(),
              support: StringEnum(['unsupported', 'partial'] as const),
              notes: Type.Array(Type.String(), { description: "caniemail's notes, in its Markdown" }),
            }),
          ),
        }),
        { description: 'By family, the clients (latest version tested) that do not support it, or only in part' },
      ),
    }),
    { description: 'Worst first' },
  ),
  data: Type.Object({
    source: Type.String(),
    license: Type.String(),
    copyright: Type.Array(Type.String()),
    last_update: Type.String({ description: "The data's last_update_date" }),
    clients: Type.Integer({ description: 'How many clients (family and platform) the data knows' }),
  }),
});

export const SpamRules = Type.Array(
  Type.Object({ score: Type.Number(), name: Type.String(), description: Type.String() }),
);

export const SpamCheckResult = Type.Object({
  score: Type.Number(),
  threshold: Type.Number(),
  is_spam: Type.Boolean(),
  rules: SpamRules,
});
