import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { isValidAddress } from '../accept/addresses.js';
import type { Services } from '../app/wiring.js';
import { AppError } from '../platform/errors.js';
import { anonymizeAddress } from '../platform/crypto/anon-key.js';
import { eraseRecipient } from './erase.js';

export function retentionRoutes(app: FastifyInstance, s: Services): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.post(
    '/api/v1/email/recipients/:email/erase',
    {
      schema: {
        summary: 'Erase one recipient (right to erasure)',
        description:
          'Hashes the address in every message to it (and in cc/bcc of others), drops bodies and attachment bytes, cancels what was not sent yet. Metadata stays for the audit; the hashed messages are still listed by `?to=<address>`.',
        params: Type.Object({ email: Type.String({ minLength: 3, maxLength: 320 }) }),
      },
    },
    async (request) => {
      const email = request.params.email.trim();
      if (!isValidAddress(email)) throw new AppError('invalid_address', `Invalid email address: ${JSON.stringify(email)}`, { field: 'email' });
      const removed = await eraseRecipient(s, email, Date.now());
      request.log.info({ erased: removed }, 'recipient erased');
      return { address_hash: anonymizeAddress(s.config, email), ...removed };
    },
  );
}
