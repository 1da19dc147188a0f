import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { actorOf } from '../http/auth.js';
import type { Services } from '../app/wiring.js';
import { previewUnsaved } from './preview.js';
import { KeyParams } from './route-params.js';
import { CreateBody, PreviewBody, TestBody, UpdateBody } from './schemas.js';

/** Template administration: admin-only (no `auth` config means admin). */
export function templateAdminRoutes(app: FastifyInstance, s: Services): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const admin = s.templateAdmin;

  r.post('/api/v1/email/templates', { schema: { body: CreateBody } }, async (request, reply) => {
    const { key, comment, ...patch } = request.body;
    const saved = await admin.create(key, patch, { actor: actorOf(request), comment });
    return reply.status(201).send({ ...(await s.templates.view(key)), saved });
  });

  r.put('/api/v1/email/templates/:key', { schema: { params: KeyParams, body: UpdateBody } }, async (request) => {
    const { comment, base_version, ...patch } = request.body;
    const saved = await admin.update(request.params.key, patch, { actor: actorOf(request), comment, baseVersion: base_version });
    return { ...(await s.templates.view(request.params.key)), saved };
  });

  r.delete('/api/v1/email/templates/:key', { schema: { params: KeyParams } }, async (request) => {
    await admin.deactivate(request.params.key, actorOf(request));
    return s.templates.view(request.params.key);
  });

  r.post(
    '/api/v1/email/templates/:key/activate',
    { schema: { params: KeyParams, body: Type.Object({ version: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }) } },
    async (request) => {
      await admin.activate(request.params.key, request.body.version, actorOf(request));
      return s.templates.view(request.params.key);
    },
  );

  r.get('/api/v1/email/templates/:key/versions', { schema: { params: KeyParams } }, async (request) => admin.versions(request.params.key));

  r.get(
    '/api/v1/email/templates/:key/versions/:version',
    { schema: { params: Type.Object({ key: KeyParams.properties.key, version: Type.Integer({ minimum: 1 }) }) } },
    async (request) => s.templates.view(request.params.key, request.params.version),
  );

  // Renders a saved version; stores nothing unless `to` is given, and then sends through the
  // normal pipeline, marked as a test.
  r.post('/api/v1/email/templates/:key/test', { schema: { params: KeyParams, body: TestBody } }, async (request) => {
    const { key } = request.params;
    const { version, locale, to } = request.body;
    const t = await s.templates.resolve(key, { version, locale, allowInactive: true });
    const variables = request.body.variables ?? (JSON.parse(t.version.sample_variables) as Record<string, unknown>);
    const preview = s.templates.preview(t, variables);
    const result = { template_key: key, version: t.version.version, locale: t.locale, ...preview };
    if (to === undefined) return result;
    const sent = await s.send.send(
      { to, template_key: key, variables, template_version: t.version.version, locale: t.locale },
      { principal: request.principal, isTest: true },
    );
    return { ...result, messages: sent.items };
  });

  r.post('/api/v1/email/templates/preview', { schema: { body: PreviewBody } }, async (request) =>
    previewUnsaved(s.templates, request.body, s.config.email.defaultLocale),
  );
}
