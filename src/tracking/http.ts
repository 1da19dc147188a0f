import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../platform/errors.js';
import { Bytes, errors } from '../platform/http/schemas.js';
import type { TrackingService } from './service.js';
import { verifyTrackingToken } from './token.js';

/** A transparent 1×1 GIF. */
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

export interface TrackingHttpOptions {
  tracking: TrackingService;
  key: Buffer;
}

const Token = Type.Object({ token: Type.String({ minLength: 24, maxLength: 12_100 }) });

/**
 * The public ends of tracked mail, each a signed token (tracking/token.ts): the open pixel and
 * the click redirect. Recording never holds up the answer and never fails it: the person gets
 * the image or reaches the link whatever the database does. A token that does not verify is a
 * 404: the click endpoint redirects only where a mail of ours linked.
 */
export const trackingHttp: FastifyPluginAsyncTypebox<TrackingHttpOptions> = async (r, { tracking, key }) => {
  const record = (log: FastifyBaseLogger, ...args: Parameters<TrackingService['record']>) => {
    void tracking.record(...args).catch((err: unknown) => log.warn({ err }, 'could not record an open or a click'));
  };

  r.get(
    '/t/o/:token',
    {
      config: { auth: 'public' },
      schema: {
        summary: 'The open pixel of a tracked message (TRACK_OPENS): a 1×1 GIF; the open is recorded',
        params: Token,
        response: { 200: Bytes('A transparent 1×1 GIF', ['image/gif']), ...errors(404) },
      },
    },
    async (request, reply) => {
      const claim = verifyTrackingToken(key, 'o', request.params.token);
      if (!claim) throw new AppError('not_found', 'Unknown tracking link');
      // Fastify answers HEAD with this route too: a HEAD loads no image, so it is not an open.
      if (request.method === 'GET') record(request.log, 'open', claim, request.headers['user-agent'] ?? '');
      return reply
        .header('cache-control', 'no-store, no-cache, must-revalidate, private')
        .header('content-type', 'image/gif')
        .send(PIXEL);
    },
  );

  r.route({
    method: ['GET', 'HEAD'],
    url: '/t/c/:token',
    config: { auth: 'public' },
    schema: {
      summary: 'A tracked link (TRACK_CLICKS): 302 to the link the message had; a GET is recorded, a HEAD is not',
      params: Token,
      response: { 302: Type.Null({ description: 'To the link (Location)' }), ...errors(404) },
    },
    handler: async (request, reply) => {
      const claim = verifyTrackingToken(key, 'c', (request.params as { token: string }).token);
      if (!claim) throw new AppError('not_found', 'Unknown tracking link');
      // A HEAD is a checker asking where the link goes, never a person: not recorded.
      if (request.method === 'GET') record(request.log, 'click', claim, request.headers['user-agent'] ?? '');
      // The page the link was clicked on (a webmail's, with its message ids in the URL) is not
      // passed on to the link's site: a redirect's Referrer-Policy governs the request it leads to.
      return reply
        .header('cache-control', 'no-store, private')
        .header('referrer-policy', 'no-referrer')
        .redirect(claim.url!, 302);
    },
  });
};
