import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../app/wiring.js';
import { messageStats } from './stats.js';

export function statsRoutes(app: FastifyInstance, s: Services): void {
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/api/v1/email/stats',
    {
      schema: {
        querystring: Type.Object({
          days: Type.Integer({ minimum: 1, maximum: 90, default: 7 }),
          // Minutes east of UTC (Paris in winter: 60), as the browser's -getTimezoneOffset().
          tz_offset: Type.Integer({ minimum: -840, maximum: 840, default: 0 }),
        }),
      },
    },
    async (request) => messageStats(s.db, { days: request.query.days, tzOffsetMinutes: request.query.tz_offset }),
  );
}
