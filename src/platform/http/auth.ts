import type { FastifyRequest } from 'fastify';

/**
 * Every route declares who may call it in `config.auth`: 'public' (no token), 'send' (any key)
 * or 'admin'. A route that declares nothing is admin-only: secure by default. The HTTP server's
 * auth hook (src/http/auth.ts) enforces it and sets `request.principal`.
 */
export type AuthLevel = 'public' | 'send' | 'admin';

export type Scope = 'admin' | 'send';

/** Who is calling: an API key, or the operator's POSTIER_ADMIN_TOKEN. */
export interface Principal {
  keyId: string | null;
  name: string;
  scope: Scope;
  /** The From addresses or domains this key may use (within FROM_ALLOWED_DOMAINS); null: any the installation allows. */
  allowedFrom?: string[] | null;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthLevel;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** The caller's name for created_by/updated_by columns. */
export const actorOf = (request: FastifyRequest): string | null =>
  request.principal ? (request.principal.keyId ?? request.principal.name) : null;
