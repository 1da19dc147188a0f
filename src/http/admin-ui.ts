import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { Type } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Bytes } from '../platform/http/schemas.js';

/** The built admin UI (`npm run build` → web/dist), found from this file in src/ or dist/src/. */
const here = path.dirname(fileURLToPath(import.meta.url));
export const WEB_DIST_DIR = path.resolve(
  here,
  here.includes(`${path.sep}dist${path.sep}`) ? '../../../web/dist' : '../../web/dist',
);

/**
 * The UI only talks to this origin. Email HTML is shown in `<iframe sandbox srcdoc>`, which
 * inherits this policy: its scripts cannot run and its remote images are not fetched (like a
 * mail client blocking remote content); inline styles must stay allowed for emails to look right.
 */
export const ADMIN_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "frame-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = Bytes('The admin UI is not built (`npm run build`)', ['text/plain'], 'text');
const PAGE = {
  config: { auth: 'public' as const },
  schema: {
    summary: 'The admin UI (its pages hold no data: every API call they make carries a token)',
    response: {
      200: Bytes('index.html for any client route, else the asset with its own content type', ['text/html', '*/*']),
      503: NOT_BUILT,
    },
  },
};

/**
 * Serves the single-page admin UI at /admin: hashed assets cached forever, every other path
 * under /admin gets index.html so client-side routes survive a reload. The pages are public
 * (they hold no data); every API call they make carries the operator's token.
 */
export async function registerAdminUi(app: FastifyInstance, dir = WEB_DIST_DIR): Promise<void> {
  app.get(
    '/',
    {
      config: { auth: 'public' },
      schema: { summary: 'Redirects to the admin UI', response: { 302: Type.Null({ description: 'To /admin/' }) } },
    },
    async (_request, reply) => reply.redirect('/admin/'),
  );

  if (!existsSync(path.join(dir, 'index.html'))) {
    const notBuilt = async (_r: unknown, reply: FastifyReply) =>
      reply.status(503).type('text/plain').send('The admin UI is not built: run `npm run build`.\n');
    app.get('/admin', PAGE, notBuilt);
    app.get('/admin/*', PAGE, notBuilt);
    return;
  }

  // Files at the top of dist (favicon…) are known once; anything else is a client route.
  const topFiles = new Set(
    readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name),
  );
  await app.register(fastifyStatic, { root: dir, serve: false });

  const serve = async (file: string, reply: FastifyReply) => {
    reply
      .header('content-security-policy', ADMIN_CSP)
      .header('x-content-type-options', 'nosniff')
      // frame-ancestors for browsers that predate it.
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer');
    if (file.startsWith('assets/')) return reply.sendFile(file, { immutable: true, maxAge: '365d' });
    if (topFiles.has(file) && file !== 'index.html') return reply.sendFile(file, { maxAge: '1h' });
    return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
  };
  app.get('/admin', PAGE, async (_request, reply) => serve('', reply));
  app.get<{ Params: { '*': string } }>('/admin/*', PAGE, async (request, reply) => serve(request.params['*'], reply));
}
