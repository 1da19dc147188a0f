import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.js';

export const KeyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 100 }) });

export function templateReadRoutes(app: FastifyInstance, s: Services): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

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
      const items = await s.templates.list({ category: request.query.category, includeInactive: request.query.include_inactive });
      return { items, total: items.length };
    },
  );

  r.get('/api/v1/email/templates/:key', { config: { auth: 'send' }, schema: { params: KeyParams } }, async (request) =>
    s.templates.view(request.params.key),
  );
}
