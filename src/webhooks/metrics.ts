import { Counter } from 'prom-client';
import { registry } from '../platform/metrics.js';

/** Endpoints the dispatcher paused itself, by why: `gone` (the endpoint answered 410 Gone). */
export const endpointsPaused = new Counter({
  name: 'postier_webhook_endpoints_paused_total',
  help: 'Outbound webhook endpoints paused by Postier, by reason: gone (the endpoint answered 410 Gone)',
  labelNames: ['reason'],
  registers: [registry],
});
