import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { SnsReceiver } from './ses-sns/receiver.js';

export interface FeedbackHttpOptions {
  sns: SnsReceiver;
}

/**
 * POST /api/v1/email/webhook: no bearer token, the SNS signature authenticates. SNS posts JSON
 * as text/plain, so this plugin reads any body as text; being a plugin of its own, it leaves the
 * JSON parsing of every other route untouched.
 */
export const feedbackHttp: FastifyPluginAsyncTypebox<FeedbackHttpOptions> = async (app, { sns }) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 1024 * 1024 }, (_request, body, done) => done(null, body));
  app.post('/api/v1/email/webhook', { config: { auth: 'public' } }, async (request) => {
    const body = typeof request.body === 'string' ? request.body : '';
    return sns.receive(body, request.ip);
  });
};
