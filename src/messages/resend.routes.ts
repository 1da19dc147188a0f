import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { actorOf } from '../http/auth.js';
import type { Services } from '../app/wiring.js';
import { resendMessage } from './resend.js';

export function resendRoutes(app: FastifyInstance, s: Services): void {
  app.withTypeProvider<TypeBoxTypeProvider>().post(
    '/api/v1/email/messages/:id/resend',
    {
      schema: {
        summary: 'Send an archived message again',
        description:
          'Creates a new message (new id and Message-ID) with the archived content, recipients and attachments, linked by `resent_from_id`. 409 `resend_masked_content` when the archive masks sensitive values, 409 `resend_content_erased` after anonymization or erasure.',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
      },
    },
    async (request, reply) => {
      const item = await resendMessage(s, request.params.id, actorOf(request));
      return reply.status(201).send({ ...item, resent_from_id: request.params.id });
    },
  );
}
