import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { isValidAddress } from '../accept/index.js';
import { anonymizeAddress } from '../platform/crypto/anon-key.js';
import { AppError } from '../platform/errors.js';
import { errors } from '../platform/http/schemas.js';
import type { RetentionDeps } from './deps.js';
import { eraseRecipient } from './erase.js';

export type RetentionHttpOptions = RetentionDeps;

/** POST /api/v1/email/recipients/:email/erase (admin). */
export const retentionHttp: FastifyPluginAsyncTypebox<RetentionHttpOptions> = async (app, deps) => {
  app.post(
    '/api/v1/email/recipients/:email/erase',
    {
      schema: {
        summary: 'Erase one recipient (right to erasure)',
        description:
          'Hashes the address in every message to it and wherever others name it (cc/bcc, reply-to, subject, tags, metadata, events, webhook payloads, idempotent answers), drops bodies and attachment bytes, cancels what was not sent yet, deletes feedback reports and captured mail naming it. Suppressions stay. Metadata stays for the audit; the hashed messages are still listed by `?to=<address>`.',
        params: Type.Object({ email: Type.String({ minLength: 3, maxLength: 320 }) }),
        response: {
          200: Type.Object({
            address_hash: Type.String({
              description: 'What the address became in the archive (`?to=<address>` still finds it)',
            }),
            messages: Type.Integer({ description: 'Messages to it: addresses hashed, bodies dropped' }),
            attachments: Type.Integer({ description: 'Attachments whose bytes were dropped' }),
            copies: Type.Integer({
              description:
                'Messages to others that named it (cc/bcc, reply-to, subject, tags, metadata, relay replies): the address replaced by its hash',
            }),
            cancelled: Type.Integer({ description: 'Messages not sent yet, cancelled' }),
            feedback_reports: Type.Integer({
              description: 'Feedback reports naming it (bounces, complaints, auto-replies), deleted',
            }),
          }),
          ...errors(422),
        },
      },
    },
    async (request) => {
      const email = request.params.email.trim();
      if (!isValidAddress(email))
        throw new AppError('invalid_address', `Invalid email address: ${JSON.stringify(email)}`, { field: 'email' });
      const removed = await eraseRecipient(deps, email, Date.now());
      request.log.info({ erased: removed }, 'recipient erased');
      return { address_hash: anonymizeAddress(deps.config, email), ...removed };
    },
  );
};
