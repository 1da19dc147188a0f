import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { apiKeyRoutes } from '../api-keys/routes.js';
import { captureRoutes } from '../capture/routes.js';
import { deliveryRoutes } from '../delivery/routes.js';
import { messageRoutes } from '../messages/routes.js';
import type { Services } from '../services.js';
import { templateReadRoutes } from '../templates/routes.js';
import { registerAuth } from './auth.js';
import { registerErrorHandler } from './errors.js';
import { registerValidation } from './validation.js';

export async function buildApp(s: Services): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: s.log as FastifyBaseLogger,
    bodyLimit: s.config.bodyLimitBytes,
    // A log line per request costs more than the request at thousands per second; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Ids in logs tie a request to the messages it created.
    requestIdHeader: false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
  });

  // The specification's curl examples post JSON without a Content-Type, which curl sends as
  // application/x-www-form-urlencoded: accept a JSON body there too.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
    app.getDefaultJsonParser('error', 'error')(request, body as string, done);
  });

  registerValidation(app);
  registerErrorHandler(app);
  registerAuth(app, s.apiKeys);

  app.get('/healthz', { config: { auth: 'public' } }, async () => ({ status: 'ok' }));
  apiKeyRoutes(app, s);
  templateReadRoutes(app, s);
  messageRoutes(app, s);
  deliveryRoutes(app, s);
  captureRoutes(app, s);

  await app.ready();
  return app;
}
