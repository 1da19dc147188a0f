import { messageIdDomain, SendService } from '../accept/index.js';
import type { ContentStore } from '../content/index.js';
import { rateLimitPolicy } from '../rate-limits/index.js';
import { suppressionPolicy } from '../suppressions/index.js';
import type { TemplateService } from '../templates/index.js';
import { unsubscribeHeadersPolicy } from '../unsubscribe/index.js';
import type { Platform } from './platform.js';

/**
 * The send service on a platform: what every accepting path (API, SMTP submission, CLI, resend)
 * stores through, with its admission policies. `wire` builds the process's; the submission
 * spool's ingester thread builds its own on its own connection (ingest-thread-entry.ts), from this
 * module alone: it loads none of the features it does not use (webhooks, feedback, keys, domains).
 */
export function sendServiceOf(
  platform: Platform,
  deps: {
    templates: TemplateService;
    content: ContentStore;
    unsubscribeKey: Buffer;
    domainVerified?: (domain: string) => boolean;
    groupsInFlight?: number;
  },
): SendService {
  const { config, db, commits, events, seal, dialect } = platform;
  return new SendService({
    db,
    commits,
    events,
    templates: deps.templates,
    content: deps.content,
    seal,
    email: config.email,
    fromEmail: config.smtp.fromEmail,
    messageIdDomain: messageIdDomain(config.smtp.fromEmail),
    dialect,
    ...(deps.domainVerified ? { domainVerified: deps.domainVerified } : {}),
    ...(deps.groupsInFlight ? { groupsInFlight: deps.groupsInFlight } : {}),
    // Order matters: a suppressed recipient does not use up a rate-limit allowance.
    policies: [
      suppressionPolicy(config.email.suppressionBypassCategories),
      rateLimitPolicy(config.email.rateLimits, dialect),
      unsubscribeHeadersPolicy(config, deps.unsubscribeKey),
    ],
  });
}
