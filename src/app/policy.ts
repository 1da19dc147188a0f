import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type pino from 'pino';
import type { Config } from '../platform/config.js';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';
import { cancelRoutes } from '../messages/cancel.js';
import type { SendService } from '../accept/send.service.js';
import { suppressionPolicy } from '../suppressions/policy.js';
import { suppressionRoutes } from '../suppressions/routes.js';
import { unsubscribeHeadersPolicy } from '../unsubscribe/headers-policy.js';
import { unsubscribeKey } from '../unsubscribe/key.js';
import { unsubscribeRoutes } from '../unsubscribe/routes.js';
import { WebhookDispatcher } from '../webhooks/dispatcher.js';
import { outboundWebhookRoutes } from '../webhooks/routes.js';
import { SnsReceiver } from '../feedback/ses-sns/receiver.js';
import { sesSnsRoutes } from '../feedback/ses-sns/routes.js';
import { rateLimitPolicy } from '../rate-limits/policy.js';
import type { EventLog } from '../events/index.js';
import { isSubscribable } from '../webhooks/event-types.js';

/** The sending policy around the send path: what it refuses, decorates, hears back and tells. */
export interface Policy {
  sns: SnsReceiver;
  webhooks: WebhookDispatcher;
  unsubscribeKey: Buffer;
}

export function installPolicy(db: Kysely<DB>, dialect: Dialect, config: Config, log: pino.Logger, send: SendService, events: EventLog): Policy {
  const key = unsubscribeKey(config);
  // Order matters: a suppressed recipient does not use up a rate-limit allowance.
  send.addPolicy(suppressionPolicy(config.email.suppressionBypassCategories));
  send.addPolicy(rateLimitPolicy(config.email.rateLimits, dialect));
  send.addPolicy(unsubscribeHeadersPolicy(config, key));
  const webhooks = new WebhookDispatcher(db, dialect, config.outboundWebhooks, log, { owner: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}` });
  // Events recorded here ring the dispatcher of this process; the others find them by polling.
  events.subscribe('webhooks', (recorded) => {
    if (recorded.some((e) => isSubscribable(e.type))) webhooks.ring();
  });
  return {
    sns: new SnsReceiver(db, events, config, log),
    webhooks,
    unsubscribeKey: key,
  };
}

export async function policyRoutes(app: FastifyInstance, s: { db: Kysely<DB>; config: Config; policy: Policy; events: EventLog }): Promise<void> {
  suppressionRoutes(app, s.db);
  cancelRoutes(app, s.db, s.events);
  outboundWebhookRoutes(app, s.db);
  await sesSnsRoutes(app, s.policy.sns);
  await unsubscribeRoutes(app, s.db, s.config, s.policy.unsubscribeKey);
}
