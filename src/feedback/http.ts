import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { errors, NullableString, StringEnum } from '../platform/http/schemas.js';
import type { SnsReceiver } from './ses-sns/receiver.js';

export interface FeedbackHttpOptions {
  sns: SnsReceiver;
}

/** What became of one SNS message (applied: a notification; message_id: the others). */
const SnsOutcome = Type.Object({
  result: StringEnum(['processed', 'duplicate', 'confirmed', 'unsubscribed'] as const),
  applied: Type.Optional(
    Type.Object({
      kind: StringEnum(['Delivery', 'Bounce', 'Complaint', 'Other'] as const),
      messageId: NullableString,
      statusChanged: Type.Boolean(),
      suppressed: Type.Array(Type.String()),
    }),
  ),
  message_id: Type.Optional(Type.String({ description: 'The SNS MessageId' })),
});

/**
 * POST /api/v1/email/webhook: no bearer token, the SNS signature authenticates. SNS posts JSON
 * as text/plain, so this plugin reads any body as text; being a plugin of its own, it leaves the
 * JSON parsing of every other route untouched.
 */
export const feedbackHttp: FastifyPluginAsyncTypebox<FeedbackHttpOptions> = async (app, { sns }) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 1024 * 1024 }, (_request, body, done) =>
    done(null, body),
  );
  app.post(
    '/api/v1/email/webhook',
    {
      config: { auth: 'public' },
      schema: {
        summary: 'Amazon SES feedback through SNS (deliveries, bounces, complaints, subscription confirmation)',
        // 400 not an SNS message; 403 topic, certificate, signature or age refused; 502 the confirmation URL failed.
        response: { 200: SnsOutcome, ...errors(400, 403, 502) },
      },
    },
    async (request) => {
      const body = typeof request.body === 'string' ? request.body : '';
      return sns.receive(body, request.ip);
    },
  );
};
