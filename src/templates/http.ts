import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { MessageStatus } from '../platform/db/schema.js';
import { actorOf, type Principal } from '../platform/http/auth.js';
import type { TemplateAdmin } from './admin.service.js';
import { previewUnsaved } from './preview.js';
import { CreateBody, KeyParams, PreviewBody, TestBody, UpdateBody } from './schemas.js';
import type { TemplateService } from './service.js';

/** Sends through the one send path (the accept feature's SendService.send), marked as a test. */
export type TestSender = (
  request: { to: string | string[]; template_key: string; variables: Record<string, unknown>; template_version: number; locale: string },
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
export const templatesHttp: FastifyPluginAsyncTypebox<TemplatesHttpOptions> = async (r, { templates, admin, testSend, defaultLocale }) => {
  r.get('/api/v1/email/layouts', { config: { auth: 'send' } }, async () => {
    const items = templates.layoutNames();
    return { items, total: items.length };
  });

  r.get(
    '/api/v1/email/templates',
    {
      config: { auth: 'send' },
      schema: {
        querystring: Type.Object({
          category: Type.Optional(Type.String({ maxLength: 50 })),
          include_inactive: Type.Boolean({ default: false }),
        }),
      },
    },
    async (request) => {
      const items = await templates.list({ category: request.query.category, includeInactive: request.query.include_inactive });
      return { items, total: items.length };
    },
  );

  r.get('/api/v1/email/templates/:key', { config: { auth: 'send' }, schema: { params: KeyParams } }, async (request) => templates.view(request.params.key));

  r.post('/api/v1/email/templates', { schema: { body: CreateBody } }, async (request, reply) => {
    const { key, comment, ...patch } = request.body;
    const saved = await admin.create(key, patch, { actor: actorOf(request), comment });
    return reply.status(201).send({ ...(await templates.view(key)), saved });
  });

  r.put('/api/v1/email/templates/:key', { schema: { params: KeyParams, body: UpdateBody } }, async (request) => {
    const { comment, base_version, ...patch } = request.body;
    const saved = await admin.update(request.params.key, patch, { actor: actorOf(request), comment, baseVersion: base_version });
    return { ...(await templates.view(request.params.key)), saved };
  });

  r.delete('/api/v1/email/templates/:key', { schema: { params: KeyParams } }, async (request) => {
    await admin.deactivate(request.params.key, actorOf(request));
    return templates.view(request.params.key);
  });

  r.post(
    '/api/v1/email/templates/:key/activate',
    { schema: { params: KeyParams, body: Type.Object({ version: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }) } },
    async (request) => {
      await admin.activate(request.params.key, request.body.version, actorOf(request));
      return templates.view(request.params.key);
    },
  );

  r.get('/api/v1/email/templates/:key/versions', { schema: { params: KeyParams } }, async (request) => admin.versions(request.params.key));

  r.get(
    '/api/v1/email/templates/:key/versions/:version',
    { schema: { params: Type.Object({ key: KeyParams.properties.key, version: Type.Integer({ minimum: 1 }) }) } },
    async (request) => templates.view(request.params.key, request.params.version),
  );

  // Renders a saved version; stores nothing unless `to` is given, and then sends through the
  // normal pipeline, marked as a test.
  r.post('/api/v1/email/templates/:key/test', { schema: { params: KeyParams, body: TestBody } }, async (request) => {
    const { key } = request.params;
    const { version, locale, to } = request.body;
    const t = await templates.resolve(key, { version, locale, allowInactive: true });
    const variables = request.body.variables ?? (JSON.parse(t.version.sample_variables) as Record<string, unknown>);
    const preview = templates.preview(t, variables);
    const result = { template_key: key, version: t.version.version, locale: t.locale, ...preview };
    if (to === undefined) return result;
    const sent = await testSend({ to, template_key: key, variables, template_version: t.version.version, locale: t.locale }, { principal: request.principal, isTest: true });
    return { ...result, messages: sent.items };
  });

  r.post('/api/v1/email/templates/preview', { schema: { body: PreviewBody } }, async (request) => previewUnsaved(templates, request.body, defaultLocale));
};
