import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { apiKeyRoutes } from '../keys/routes.js';
import { captureRoutes } from '../capture/routes.js';
import { deliveryRoutes } from '../delivery/routes.js';
import { messageRoutes } from '../messages/routes.js';
import { statsRoutes } from '../messages/stats.routes.js';
import { policyRoutes } from '../app/policy.js';
import { metricsRoutes } from '../observability/routes.js';
import { databaseCheck, readinessRoutes, smtpCheck } from '../observability/readiness.js';
import { verifySmtp } from '../delivery/transport.js';
import { smtpTarget } from '../delivery/start.js';
import { registerOpenApi } from './openapi.js';
import { resendRoutes } from '../messages/resend.routes.js';
import { retentionRoutes } from '../retention/routes.js';
import type { Services } from '../app/wiring.js';
import { templateReadRoutes } from '../templates/routes.js';
import { registerAdminUi } from './admin-ui.js';
import { registerAuth } from './auth.js';
import { registerJsonBodies } from './json-body.js';
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

  registerJsonBodies(app);

  registerValidation(app);
  registerErrorHandler(app);
  registerAuth(app, s.apiKeys);
  // Before every route: the OpenAPI document is collected as routes are added.
  await registerOpenApi(app, s);

  app.get('/healthz', { config: { auth: 'public' } }, async () => ({ status: 'ok' }));
  // After the merge with delivery, add smtpCheck(() => <transport>.verify()) to this list.
  readinessRoutes(app, [databaseCheck(s.db), smtpCheck(() => verifySmtp(s.config, smtpTarget(s, null)))]);
  metricsRoutes(app, s);
  apiKeyRoutes(app, s);
  templateReadRoutes(app, s);
  messageRoutes(app, s);
  await policyRoutes(app, s);
  statsRoutes(app, s);
  await registerAdminUi(app);
  resendRoutes(app, s);
  retentionRoutes(app, s);
  deliveryRoutes(app, s);
  captureRoutes(app, s);

  await app.ready();
  return app;
}
