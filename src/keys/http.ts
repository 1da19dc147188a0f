import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { actorOf } from '../platform/http/auth.js';
import type { ApiKeyService } from './service.js';

export interface KeysHttpOptions {
  keys: ApiKeyService;
}

/** API keys (admin only): list, create (the token is shown once), revoke. */
export const keysHttp: FastifyPluginAsyncTypebox<KeysHttpOptions> = async (r, { keys }) => {
  r.get('/api/v1/keys', async () => {
    const items = await keys.list();
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
      const created = await keys.create(request.body.name, request.body.scope, actorOf(request));
      return reply.status(201).send({ ...created.key, token: created.token });
    },
  );
  r.delete('/api/v1/keys/:id', { schema: { params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }) } }, async (request) =>
    keys.revoke(request.params.id),
  );
};
