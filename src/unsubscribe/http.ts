import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { Bytes, errors } from '../platform/http/schemas.js';
import { addSuppression, findSuppression } from '../suppressions/index.js';
import { confirmPage, donePage, invalidPage, langOf } from './page.js';
import { verifyUnsubscribeToken } from './token.js';

export interface UnsubscribeHttpOptions {
  db: Kysely<DB>;
  /** The key unsubscribe tokens are signed with (unsubscribeKey). */
  key: Buffer;
  /** BRAND_NAME, on the pages. */
  brand: string;
}

/**
 * RFC 8058's `List-Unsubscribe=One-Click`, as a mailbox provider posts it: form-urlencoded
 * (`List-Unsubscribe=One-Click`) or multipart/form-data (a part named `List-Unsubscribe` whose
 * value is `One-Click`). Only names what the suppression records: any POST unsubscribes.
 */
function isOneClick(body: unknown): boolean {
  if (typeof body !== 'string') return false;
  if (body.includes('List-Unsubscribe=One-Click')) return true;
  return /name="?List-Unsubscribe"?[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*\r?\nOne-Click\r?\n/i.test(body);
}

/**
 * GET /u/:token shows a confirmation page; POST /u/:token unsubscribes (RFC 8058 one-click:
 * mailbox providers POST `List-Unsubscribe=One-Click` as a form, so any body is accepted, in
 * this plugin only). No bearer token: the HMAC in the token is the authorization.
 */
export const unsubscribeHttp: FastifyPluginAsyncTypebox<UnsubscribeHttpOptions> = async (app, { db, key, brand }) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) =>
    done(null, body),
  );

  app.get<{ Params: { token: string }; Querystring: { lang?: unknown } }>(
    '/u/:token',
    {
      config: { auth: 'public' },
      schema: {
        summary: 'The unsubscribe confirmation page of a link in a message',
        response: {
          200: Bytes('The confirmation page', ['text/html'], 'text'),
          404: Bytes('The page saying the link is not valid', ['text/html'], 'text'),
        },
      },
    },
    async (request, reply) => {
      const claim = verifyUnsubscribeToken(key, request.params.token);
      // The page's address holds the token: no Referer carries it anywhere, no cache keeps it.
      reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('referrer-policy', 'no-referrer');
      // `?lang=en&lang=fr` parses as an array, `?lang[a]=en` as an object: only one string counts.
      const asked = typeof request.query.lang === 'string' ? request.query.lang : undefined;
      if (!claim) return reply.status(404).send(invalidPage(langOf(asked), brand));
      const lang = langOf(asked ?? claim.locale);
      return reply.send(confirmPage(lang, claim.email, claim.cls, `./${request.params.token}`, brand));
    },
  );

  app.post<{ Params: { token: string } }>(
    '/u/:token',
    {
      config: { auth: 'public' },
      schema: {
        summary: 'Unsubscribe (RFC 8058 one-click, or the confirmation page form)',
        response: {
          200: Bytes(
            'A browser gets the done page; a mailbox provider (one-click) an empty body',
            ['text/html', 'text/plain'],
            'text',
          ),
          // 413: a body over 64 KiB (a one-click POST is a few bytes).
          ...errors(404, 413),
        },
      },
    },
    async (request, reply) => {
      const claim = verifyUnsubscribeToken(key, request.params.token);
      if (!claim) throw new AppError('invalid_unsubscribe_token', 'This unsubscribe link is not valid');
      // A link posted again (a provider's retry, a person's second click, a flood) is read, not
      // written: it never waits for the database's write lock nor takes it from senders.
      const already = await findSuppression(db, claim.email, [claim.cls]);
      if (!already) {
        await addSuppression(db, {
          email: claim.email,
          scope: claim.cls,
          reason: 'unsubscribe',
          source: 'unsubscribe_link',
          details: isOneClick(request.body) ? 'one-click' : 'confirmation page',
          at: Date.now(),
        });
        request.log.info({ scope: claim.cls }, 'recipient unsubscribed');
      }
      // A browser (our form) gets a page; a mailbox provider's one-click POST an empty 200.
      if (request.headers.accept?.includes('text/html')) {
        return reply
          .header('content-type', 'text/html; charset=utf-8')
          .header('cache-control', 'no-store')
          .header('referrer-policy', 'no-referrer')
          .send(donePage(langOf(claim.locale), claim.email, brand));
      }
      return reply.status(200).send('');
    },
  );
};
