import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { actorOf } from '../platform/http/auth.js';
import { errors } from '../platform/http/schemas.js';
import { CreatedKey, CreateKeyBody, KeyList, KeyView } from './schemas.js';
import type { ApiKeyService } from './service.js';

export interface KeysHttpOptions {
  keys: ApiKeyService;
}

/** API keys (admin only): list, create (the token is shown once), revoke. */
export const keysHttp: FastifyPluginAsyncTypebox<KeysHttpOptions> = async (r, { keys }) => {
  r.get('/api/v1/keys', { schema: { summary: 'List API keys', response: { 200: KeyList } } }, async () => {
    const items = await keys.list();
    return { items, total: items.length };
  });
  r.post(
    '/api/v1/keys',
    { schema: { summary: 'Create an API key', body: CreateKeyBody, response: { 201: CreatedKey, ...errors(422) } } },
    async (request, reply) => {
      // The token is shown once, here; only its hash is stored.
      const { name, scope, allowed_from } = request.body;
      const created = await keys.create(name, scope, actorOf(request), allowed_from);
      return reply.status(201).send({ ...created.key, token: created.token });
    },
  );
  r.delete(
    '/api/v1/keys/:id',
    {
      schema: {
        summary: 'Revoke an API key, by id or token prefix',
        description:
          'A token prefix that several keys share revokes none: 409 `conflict` with `details.reason` ' +
          '`ambiguous_prefix` and `details.matches` (id, name, prefix of each); revoke the one meant by its id.',
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: { 200: KeyView, ...errors(404, 409) },
      },
    },
    async (request) => keys.revoke(request.params.id),
  );
};
