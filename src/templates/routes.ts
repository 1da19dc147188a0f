import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../app/wiring.js';
import { templateAdminRoutes } from './admin.routes.js';
import { KeyParams } from './route-params.js';

export { KeyParams };

/**
 * Every template endpoint: reads (any key) here, administration in admin.routes.ts. Registered
 * from one call in the app builder.
 */
export function templateReadRoutes(app: FastifyInstance, s: Services): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  templateAdminRoutes(app, s);

  r.get('/api/v1/email/layouts', { config: { auth: 'send' } }, async () => {
    const items = s.templates.layoutNames();
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
      const items = await s.templates.list({ category: request.query.category, includeInactive: request.query.include_inactive });
      return { items, total: items.length };
    },
  );

  r.get('/api/v1/email/templates/:key', { config: { auth: 'send' }, schema: { params: KeyParams } }, async (request) =>
    s.templates.view(request.params.key),
  );
}
