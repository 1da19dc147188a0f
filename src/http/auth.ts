import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pino from 'pino';
import { Counter } from 'prom-client';
import { AppError } from '../platform/errors.js';
import type { Principal } from '../platform/http/auth.js';
import { LoginGuard } from '../platform/login-guard.js';
import { registry } from '../platform/metrics.js';

/** Tells who a bearer token is (the keys feature's ApiKeyService). */
export interface Authenticator {
  authenticate(token: string): Promise<Principal | undefined>;
}

export const apiAuthFailures = new Counter({
  name: 'postier_api_auth_failures_total',
  help: 'HTTP API requests with a wrong bearer token (`invalid`: unknown, revoked or malformed), and those refused with 429 (`locked`: too many failures from the client)',
  labelNames: ['kind'],
  registers: [registry],
});

export interface AuthOptions {
  /** API_AUTH_MAX_FAILURES, API_AUTH_LOCKOUT_SECONDS. */
  maxFailures: number;
  lockoutSeconds: number;
  /** True for an address of a trusted proxy (TRUST_PROXY): such a client is not counted (see below). */
  trusted: (address: string) => boolean;
  log: pino.Logger;
  /** Delay added to each 401 per failure of the client so far (500 ms, up to 5 s); tests shorten it. */
  delayStepMs?: number;
  /** Clients remembered at most (10,000). */
  maxTracked?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Enforces each route's `config.auth` (platform/http/auth.ts): admin unless the route says
 * otherwise. Wrong bearer tokens are counted per client (request.ip: an IPv4 address, an IPv6
 * /64) by the same LoginGuard as SMTP AUTH: each 401 comes a little later, and after
 * `maxFailures` the client is refused (429 `too_many_failed_logins`, Retry-After), even with a
 * right token, until `lockoutSeconds` after its last failure. A right token clears nothing.
 *
 * A request whose client address is itself a trusted proxy (loopback by default) is not counted:
 * it comes from this machine, which could name any client in X-Forwarded-For anyway, or from a
 * proxy that did not say who its client was, and counting it would lock every client of that
 * proxy out together.
 */
export function registerAuth(app: FastifyInstance, keys: Authenticator, options: AuthOptions): void {
  const guard = new LoginGuard({
    maxFailures: options.maxFailures,
    lockoutMs: options.lockoutSeconds * 1000,
    delayStepMs: options.delayStepMs,
    maxTracked: options.maxTracked,
  });
  const { log } = options;
  let fullWarnedAt = Number.NEGATIVE_INFINITY;

  const lockedOut = (request: FastifyRequest, client: string) => {
    // Behind a proxy that is not trusted, every client looks like the proxy: say so.
    const ignored = request.headers['x-forwarded-for'] !== undefined && request.ip === request.socket.remoteAddress;
    log.warn(
      {
        address: request.ip,
        client,
        lockout_seconds: options.lockoutSeconds,
        ...(ignored && { hint: 'X-Forwarded-For was ignored: the peer is not a trusted proxy (TRUST_PROXY)' }),
      },
      'api: bearer tokens refused for a client after repeated failures',
    );
  };

  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    const level = request.routeOptions.config?.auth ?? 'admin';
    if (level === 'public' || request.routeOptions.url === undefined) return;
    const header = request.headers.authorization;
    if (header === undefined)
      throw new AppError('unauthorized', 'Missing bearer token: send `Authorization: Bearer <token>`');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);

    const address = request.ip;
    const attempt = options.trusted(address) ? null : await guard.admit(address);
    if (attempt === 'locked') {
      apiAuthFailures.inc({ kind: 'locked' });
      reply.header('retry-after', String(Math.max(1, Math.ceil(guard.retryAfterMs(address) / 1000))));
      throw new AppError('too_many_failed_logins', 'Too many failed bearer tokens from this address; try again later');
    }
    let principal: Principal | undefined;
    try {
      principal = m ? await keys.authenticate(m[1]!) : undefined;
      if (principal) {
        // A right token clears nothing: the client's failures expire with their window.
        attempt?.succeed();
      } else {
        apiAuthFailures.inc({ kind: 'invalid' });
        if (attempt) {
          const { delayMs, locked, remembered } = attempt.fail();
          if (locked) lockedOut(request, attempt.client);
          if (!remembered && Date.now() - fullWarnedAt >= 60_000) {
            fullWarnedAt = Date.now();
            log.warn(
              { address, lockout_seconds: options.lockoutSeconds },
              'api: too many clients are locked out to remember more: wrong tokens of the others are answered after the longest delay',
            );
          }
          await sleep(delayMs);
        }
      }
    } finally {
      // The token could not be checked (the database failed): nothing counted.
      attempt?.abandon();
    }
    if (!m) throw new AppError('unauthorized', 'Missing bearer token: send `Authorization: Bearer <token>`');
    if (!principal) throw new AppError('unauthorized', 'Invalid or revoked token');
    if (level === 'admin' && principal.scope !== 'admin') {
      throw new AppError('forbidden', 'This endpoint needs an admin key');
    }
    request.principal = principal;
  });
}
