import { Type } from '@fastify/type-provider-typebox';
import { StringEnum } from '../platform/http/schemas.js';

/** GET /healthz: the process answers (liveness; /readyz checks its dependencies). */
export const Health = Type.Object({ status: StringEnum(['ok'] as const) });
