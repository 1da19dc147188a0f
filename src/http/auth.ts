import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../platform/errors.js';
import type { Principal } from '../platform/http/auth.js';

/** Tells who a bearer token is (the keys feature's ApiKeyService). */
export interface Authenticator {
  authenticate(token: string): Promise<Principal | undefined>;
}

/** Enforces each route's `config.auth` (platform/http/auth.ts): admin unless the route says otherwise. */
export function registerAuth(app: FastifyInstance, keys: Authenticator): void {
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
