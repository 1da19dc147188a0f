import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';

const DOCS_PREFIX = '/docs';

/**
 * OpenAPI 3 built from the routes' own schemas, so the document cannot drift from validation.
 * Must be registered before any route: @fastify/swagger learns routes from the onRoute hook.
 * The docs page serves Swagger UI's files from node_modules: no CDN, no external request.
 */
export async function registerOpenApi(app: FastifyInstance, publicUrl: string): Promise<void> {
  // The UI's own routes declare no auth level and would default to admin: make them public.
  app.addHook('onRoute', (route) => {
    if (route.url === DOCS_PREFIX || route.url.startsWith(`${DOCS_PREFIX}/`))
      route.config = { ...route.config, auth: 'public' };
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Postier API',
        version: '1',
        description:
          'Transactional email: send from templates, audit the archive, manage templates and keys. Authenticate with `Authorization: Bearer <token>`.',
      },
      servers: [{ url: publicUrl }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API key (send or admin scope)' },
        },
      },
      security: [{ bearer: [] }],
    },
    // Public routes say so in the document; the others inherit the global bearer requirement.
    transform: ({ schema, url, route }) => {
      const auth = route.config?.auth ?? 'admin';
      const out: FastifySchema = { ...(schema ?? {}), ...(auth === 'public' ? { security: [] } : {}) };
      return { schema: Object.assign(out, { 'x-auth': auth }), url };
    },
  });

  app.get('/api/v1/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger());

  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    // validatorUrl null: the default would fetch a badge from validator.swagger.io.
    uiConfig: { url: '/api/v1/openapi.json', deepLinking: true, validatorUrl: null },
    // The UI loads nothing from elsewhere; the CSP makes sure of it.
    staticCSP:
      "default-src 'self'; base-uri 'self'; connect-src 'self'; font-src 'self' data:; frame-ancestors 'self'; img-src 'self' data:; object-src 'none'; script-src 'self'; script-src-attr 'none'; style-src 'self'",
  });
}
