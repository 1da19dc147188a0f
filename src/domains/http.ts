import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { AppError } from '../platform/errors.js';
import { errors, NullableDateTime, NullableString, StringEnum } from '../platform/http/schemas.js';
import type { DomainService } from './service.js';

const Check = Type.Object({
  status: StringEnum(['ok', 'missing', 'mismatch', 'invalid', 'not_configured', 'error'] as const),
  name: Type.String({ description: 'The DNS name asked' }),
  found: Type.Array(Type.String(), { description: 'The records found there' }),
  expected: Type.Union([Type.String(), Type.Null()], { description: 'What to publish there, when exactly known' }),
  detail: Type.String(),
});

const Domain = Type.Object({
  domain: Type.String(),
  roles: Type.Array(StringEnum(['from', 'dkim', 'bounce'] as const)),
  dkim_selector: NullableString,
  verified: Type.Boolean({ description: 'Every check the domain needs passed at its last check' }),
  checked_at: NullableDateTime,
  checks: Type.Union([
    Type.Object({
      dkim: Type.Optional(Check),
      spf: Type.Optional(Check),
      dmarc: Type.Optional(Check),
      mx: Type.Optional(Check),
    }),
    Type.Null(),
  ]),
});

export interface DomainsHttpOptions {
  domains: DomainService;
}

/** Admin API: the sending domains and their DNS checks. */
export const domainsHttp: FastifyPluginAsyncTypebox<DomainsHttpOptions> = async (r, { domains }) => {
  r.get(
    '/api/v1/domains',
    {
      schema: {
        summary: 'Sending domains (From, DKIM, bounce) and their last DNS check',
        response: {
          200: Type.Object({
            items: Type.Array(Domain),
            enforced: Type.Boolean({
              description: 'DOMAIN_VERIFICATION=enforce: mail from a domain that has not passed is refused',
            }),
          }),
        },
      },
    },
    async () => ({ items: await domains.list(), enforced: domains.enforced }),
  );

  r.post(
    '/api/v1/domains/:domain/check',
    {
      schema: {
        summary: 'Check a sending domain’s DNS now (DKIM key, SPF, DMARC; MX for the bounce domain)',
        params: Type.Object({
          domain: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.-]+$' }),
        }),
        response: { 200: Domain, ...errors(404) },
      },
    },
    async (request) => {
      const result = await domains.check(request.params.domain);
      if (!result)
        throw new AppError('domain_not_found', `Postier does not send as ${request.params.domain}`, {
          domains: domains.domains().map((d) => d.domain),
        });
      return result;
    },
  );
};
