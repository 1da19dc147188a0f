import type { Transaction } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import type { Admission, AdmissionPolicy } from '../accept/index.js';
import type { SuppressionRow } from '../platform/db/schema.js';
import { ALL_SCOPES, addressSpellings, findSuppression, suppressionsOf } from './repository.js';

/**
 * A suppressed recipient's message is stored as `suppressed`, never delivered. Bypass
 * categories (e.g. incident alerts) still reach addresses suppressed for all mail, but never
 * one that unsubscribed from the message's class: an unsubscribe is the recipient's choice. A
 * category the caller chose (a raw send's) never bypasses: only a template's author can grant that.
 */
export function suppressionPolicy(bypassCategories: string[]): AdmissionPolicy {
  const bypass = new Set(bypassCategories);
  const scopesOf = (message: Admission) =>
    message.trustedCategory && bypass.has(message.category) ? [message.class] : [ALL_SCOPES, message.class];
  const verdict = (hit: SuppressionRow | undefined) =>
    hit
      ? {
          status: 'suppressed' as const,
          reason: `Recipient is suppressed (${hit.reason}${hit.scope === ALL_SCOPES ? '' : ` from ${hit.scope} mail`})`,
        }
      : { status: 'queued' as const };
  return {
    async admit(trx: Transaction<DB>, recipient: string, message: Admission) {
      return verdict(await findSuppression(trx, recipient, scopesOf(message)));
    },
    // A commit's recipients in one query; each then judged as admit() would (the earliest matching row).
    async admitMany(trx, items) {
      const rows = await suppressionsOf(
        trx,
        items.map((i) => i.recipient),
      );
      if (rows.length === 0) return items.map(() => ({ status: 'queued' as const }));
      return items.map(({ recipient, message }) => {
        const keys = addressSpellings(recipient);
        const scopes = scopesOf(message);
        const hits = rows.filter((r) => keys.includes(r.email) && scopes.includes(r.scope));
        return verdict(hits.sort((a, b) => a.created_at - b.created_at)[0]);
      });
    },
  };
}
