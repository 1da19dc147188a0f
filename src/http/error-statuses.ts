import type { FastifyInstance, FastifySchema } from 'fastify';
import { ErrorBody } from '../platform/http/schemas.js';

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Adds to each route's response schemas the error statuses the server itself may answer on it,
 * whatever the route does: 400 when it validates input (or parses a JSON body), 401 and 429 (too
 * many failed bearer tokens from the client, auth.ts) unless it is public, 403 when it needs an admin key, 413 and 415 for a JSON body, 500 and 503 (storage
 * unavailable) for all. A feature's plugin declares its success answers and its own errors (404,
 * 409, 422…). Added as routes register, before the OpenAPI document reads them.
 */
export function addServerErrorStatuses(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const schema: FastifySchema | undefined = route.schema;
    if (!schema || schema.hide) return;
    const response = { ...((schema.response as Record<string, unknown> | undefined) ?? {}) };
    const add = (...statuses: number[]) => {
      for (const s of statuses) response[s] ??= ErrorBody;
    };
    const auth = route.config?.auth ?? 'admin';
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const jsonBody = schema.body !== undefined && methods.some((m) => WITH_BODY.has(m));
    if (schema.body !== undefined || schema.params !== undefined || schema.querystring !== undefined) add(400);
    if (auth !== 'public') add(401, 429);
    if (auth === 'admin') add(403);
    if (jsonBody) add(400, 413, 415);
    add(500, 503);
    route.schema = { ...schema, response };
  });
}
