import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeyService, Principal } from '../keys/service.js';
import { AppError } from '../platform/errors.js';

/**
 * Every route declares who may call it in `config.auth`: 'public' (no token), 'send' (any key)
 * or 'admin'. A route that declares nothing is admin-only: secure by default.
 */
export type AuthLevel = 'public' | 'send' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthLevel;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function registerAuth(app: FastifyInstance, keys: ApiKeyService): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const level = request.routeOptions.config?.auth ?? 'admin';
    if (level === 'public' || request.routeOptions.url === undefined) return;
    const header = request.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw new AppError('unauthorized', 'Missing bearer token: send `Authorization: Bearer <token>`');
    const principal = await keys.authenticate(m[1]!);
    if (!principal) throw new AppError('unauthorized', 'Invalid or revoked token');
    if (level === 'admin' && principal.scope !== 'admin') {
      throw new AppError('forbidden', 'This endpoint needs an admin key');
    }
    request.principal = principal;
  });
}

/** The caller's name for created_by/updated_by columns. */
export const actorOf = (request: FastifyRequest): string | null =>
  request.principal ? (request.principal.keyId ?? request.principal.name) : null;
