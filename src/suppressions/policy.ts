import type { Transaction } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import type { AdmissionPolicy } from '../accept/index.js';
import type { ResolvedTemplate } from '../templates/index.js';
import { ALL_SCOPES, findSuppression } from './repository.js';

/**
 * A suppressed recipient's message is stored as `suppressed`, never delivered. Bypass
 * categories (e.g. incident alerts) still reach addresses suppressed for all mail, but never
 * one that unsubscribed from the message's class: an unsubscribe is the recipient's choice.
 */
export function suppressionPolicy(bypassCategories: string[]): AdmissionPolicy {
  const bypass = new Set(bypassCategories);
  return {
    async admit(trx: Transaction<DB>, recipient: string, template: ResolvedTemplate) {
      const scopes = bypass.has(template.template.category)
        ? [template.template.class]
        : [ALL_SCOPES, template.template.class];
      const hit = await findSuppression(trx, recipient, scopes);
      if (!hit) return { status: 'queued' };
      return {
        status: 'suppressed',
        reason: `Recipient is suppressed (${hit.reason}${hit.scope === ALL_SCOPES ? '' : ` from ${hit.scope} mail`})`,
      };
    },
  };
}
