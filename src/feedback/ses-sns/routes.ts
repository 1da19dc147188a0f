import type { FastifyInstance } from 'fastify';
import type { SnsReceiver } from './receiver.js';

/**
 * POST /api/v1/email/webhook: no bearer token, the SNS signature authenticates. SNS posts JSON
 * as text/plain, so this route reads any body as text, in its own plugin to leave the JSON
 * parsing of every other route untouched.
 */
export async function sesSnsRoutes(app: FastifyInstance, receiver: SnsReceiver): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 1024 * 1024 }, (_request, body, done) => done(null, body));
    scope.post('/api/v1/email/webhook', { config: { auth: 'public' } }, async (request) => {
      const body = typeof request.body === 'string' ? request.body : '';
      return receiver.receive(body, request.ip);
    });
  });
}
