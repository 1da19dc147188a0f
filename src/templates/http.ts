import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { MessageStatus } from '../platform/db/schema.js';
import { actorOf, type Principal } from '../platform/http/auth.js';
import type { TemplateAdmin } from './admin.service.js';
import { previewUnsaved } from './preview.js';
import { errors, VersionNumber } from '../platform/http/schemas.js';
import {
  CreateBody,
  KeyParams,
  LayoutList,
  PreviewBody,
  PreviewResult,
  SavedTemplate,
  TemplateList,
  TemplateView,
  TestBody,
  TestResult,
  UpdateBody,
  VersionList,
} from './schemas.js';
import type { TemplateService } from './service.js';

/** Sends through the one send path (the accept feature's SendService.send), marked as a test. */
export type TestSender = (
  request: {
    to: string | string[];
    template_key: string;
    variables: Record<string, unknown>;
    template_version: number;
    locale: string;
  },
  opts: { principal: Principal | null; isTest: true },
) => Promise<{ items: Array<{ id: string; to: string; status: MessageStatus }> }>;

export interface TemplatesHttpOptions {
  templates: TemplateService;
  admin: TemplateAdmin;
  testSend: TestSender;
  /** EMAIL_DEFAULT_LOCALE: the locale of an editor preview that names none. */
  defaultLocale: string;
}

/**
 * Every template endpoint: reads and layouts for any key; administration (admin only, the
 * routes' default): create, edit, deactivate, activate, versions, test render or send, preview.
 */
export const templatesHttp: FastifyPluginAsyncTypebox<TemplatesHttpOptions> = async (
  r,
  { templates, admin, testSend, defaultLocale },
) => {
  r.get(
    '/api/v1/email/layouts',
    { config: { auth: 'send' }, schema: { summary: 'Layout names a template may use', response: { 200: LayoutList } } },
    async () => {
      const items = templates.layoutNames();
      return { items, total: items.length };
    },
  );

  r.get(
    '/api/v1/email/templates',
    {
      config: { auth: 'send' },
      schema: {
        summary: 'List templates',
        querystring: Type.Object({
          category: Type.Optional(Type.String({ maxLength: 50 })),
          include_inactive: Type.Boolean({ default: false }),
        }),
        response: { 200: TemplateList },
      },
    },
    async (request) => {
      const items = await templates.list({
        category: request.query.category,
        includeInactive: request.query.include_inactive,
      });
      return { items, total: items.length };
    },
  );

  r.get(
    '/api/v1/email/templates/:key',
    {
      config: { auth: 'send' },
      schema: {
        summary: 'A template: its active version, every locale',
        params: KeyParams,
        response: { 200: TemplateView, ...errors(404) },
      },
    },
    async (request) => templates.view(request.params.key),
  );

  r.post(
    '/api/v1/email/templates',
    // 409 conflict: the key exists; 422: the content does not compile or validate.
    {
      schema: {
        summary: 'Create a template (version 1)',
        body: CreateBody,
        response: { 201: SavedTemplate, ...errors(409, 422) },
      },
    },
    async (request, reply) => {
      const { key, comment, ...patch } = request.body;
      const saved = await admin.create(key, patch, { actor: actorOf(request), comment });
      return reply.status(201).send({ ...(await templates.view(key)), saved });
    },
  );

  r.put(
    '/api/v1/email/templates/:key',
    // 409 conflict: base_version is no longer the active version.
    {
      schema: {
        summary: 'Edit a template: a new version when the content changes',
        params: KeyParams,
        body: UpdateBody,
        response: { 200: SavedTemplate, ...errors(404, 409, 422) },
      },
    },
    async (request) => {
      const { comment, base_version, ...patch } = request.body;
      const saved = await admin.update(request.params.key, patch, {
        actor: actorOf(request),
        comment,
        baseVersion: base_version,
      });
      return { ...(await templates.view(request.params.key)), saved };
    },
  );

  r.delete(
    '/api/v1/email/templates/:key',
    {
      schema: { summary: 'Deactivate a template', params: KeyParams, response: { 200: TemplateView, ...errors(404) } },
    },
    async (request) => {
      await admin.deactivate(request.params.key, actorOf(request));
      return templates.view(request.params.key);
    },
  );

  r.post(
    '/api/v1/email/templates/:key/duplicate',
    // 409 conflict: the new key exists.
    {
      schema: {
        summary: "Duplicate a template under a new key (version 1 with the active version's content)",
        params: KeyParams,
        body: Type.Object(
          {
            key: Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,99}$' }),
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: SavedTemplate, ...errors(404, 409, 422) },
      },
    },
    async (request, reply) => {
      const { key, name } = request.body;
      const saved = await admin.duplicate(request.params.key, key, name, actorOf(request));
      return reply.status(201).send({ ...(await templates.view(key)), saved });
    },
  );

  r.post(
    '/api/v1/email/templates/:key/delete',
    // 409 conflict: messages were sent with it (deactivate it instead).
    {
      schema: {
        summary: 'Delete a template and all its versions, if no message was sent with it',
        params: KeyParams,
        response: {
          200: Type.Object({ key: Type.String(), deleted: Type.Literal(true) }),
          ...errors(404, 409),
        },
      },
    },
    async (request) => {
      await admin.remove(request.params.key);
      return { key: request.params.key, deleted: true as const };
    },
  );

  r.post(
    '/api/v1/email/templates/:key/activate',
    {
      schema: {
        summary: 'Activate a template, or make one of its versions the active one',
        params: KeyParams,
        body: Type.Object({ version: Type.Optional(VersionNumber()) }, { additionalProperties: false }),
        response: { 200: TemplateView, ...errors(404) },
      },
    },
    async (request) => {
      await admin.activate(request.params.key, request.body.version, actorOf(request));
      return templates.view(request.params.key);
    },
  );

  r.get(
    '/api/v1/email/templates/:key/versions',
    {
      schema: {
        summary: "A template's versions, newest first",
        params: KeyParams,
        response: { 200: VersionList, ...errors(404) },
      },
    },
    async (request) => admin.versions(request.params.key),
  );

  r.get(
    '/api/v1/email/templates/:key/versions/:version',
    {
      schema: {
        summary: 'One version of a template',
        params: Type.Object({ key: KeyParams.properties.key, version: VersionNumber() }),
        response: { 200: TemplateView, ...errors(404) },
      },
    },
    async (request) => templates.view(request.params.key, request.params.version),
  );

  // Renders a saved version; stores nothing unless `to` is given, and then sends through the
  // normal pipeline, marked as a test.
  r.post(
    '/api/v1/email/templates/:key/test',
    {
      schema: {
        summary: 'Render a saved version with variables; with `to`, send it too (marked as a test)',
        params: KeyParams,
        body: TestBody,
        // 422: an invalid address, or a send-time check of the rendered message.
        response: { 200: TestResult, ...errors(404, 422) },
      },
    },
    async (request) => {
      const { key } = request.params;
      const { version, locale, to } = request.body;
      const t = await templates.resolve(key, { version, locale, allowInactive: true });
      const variables = request.body.variables ?? (JSON.parse(t.version.sample_variables) as Record<string, unknown>);
      const preview = templates.preview(t, variables);
      const result = { template_key: key, version: t.version.version, locale: t.locale, ...preview };
      if (to === undefined) return result;
      const message = { to, template_key: key, variables, template_version: t.version.version, locale: t.locale };
      const sent = await testSend(message, { principal: request.principal, isTest: true });
      return { ...result, messages: sent.items };
    },
  );

  r.post(
    '/api/v1/email/templates/preview',
    {
      schema: {
        summary: 'Render unsaved editor content (problems are data, not errors)',
        body: PreviewBody,
        response: { 200: PreviewResult },
      },
    },
    async (request) => previewUnsaved(templates, request.body, defaultLocale),
  );
};
