import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { actorOf } from '../http/auth.js';
import type { Services } from '../app/wiring.js';

export function apiKeyRoutes(app: FastifyInstance, s: Services): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get('/api/v1/keys', async () => {
    const items = await s.apiKeys.list();
    return { items, total: items.length };
  });
  r.post(
    '/api/v1/keys',
    {
      schema: {
        body: Type.Object(
          { name: Type.String({ minLength: 1, maxLength: 100 }), scope: Type.Union([Type.Literal('admin'), Type.Literal('send')]) },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      // The token is shown once, here; only its hash is stored.
      const created = await s.apiKeys.create(request.body.name, request.body.scope, actorOf(request));
      return reply.status(201).send({ ...created.key, token: created.token });
    },
  );
  r.delete('/api/v1/keys/:id', { schema: { params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }) } }, async (request) =>
    s.apiKeys.revoke(request.params.id),
  );
}
