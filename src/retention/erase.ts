import { sql } from 'kysely';
import { eraseFromSpool, normalizeAddress } from '../accept/index.js';

import type { RetentionDeps } from './deps.js';
import { anonymizeAddress } from '../platform/crypto/anon-key.js';
import { SCRUB_COLUMNS, scrubMessages } from './scrub.js';
import { likeContaining } from '../platform/db/like.js';

export interface EraseResult {
  /** Messages addressed to them: addresses hashed, bodies dropped. */
  messages: number;
  /** Attachments whose bytes were dropped. */
  attachments: number;
  /** Messages to someone else where they were in cc/bcc: only their address was replaced. */
  copies: number;
  /** Messages not yet sent that were cancelled, since their content is gone (with those accepted over SMTP and not yet stored, which never will be). */
  cancelled: number;
  /** Feedback reports naming the address (its bounces, complaints, auto-replies), deleted with their raw bytes. */
  feedback_reports: number;
}

/**
 * Right to erasure, for one address, at once and in one transaction. Addresses are compared
 * case-insensitively: the person is the mailbox, whatever case callers used.
 */
export async function eraseRecipient(s: RetentionDeps, address: string, now: number): Promise<EraseResult> {
  const lower = normalizeAddress(address.trim()).toLowerCase();
  const hashed = anonymizeAddress(s.config, lower);
  return s.db.transaction().execute(async (trx) => {
    // Accepted over SMTP and not stored yet: never stored now (first: see eraseFromSpool).
    const spooled = await eraseFromSpool(trx, lower);
    const own = await trx
      .selectFrom('email_messages')
      .select([...SCRUB_COLUMNS, 'status'])
      // Already anonymized messages match by hash: a second erasure still clears their subject.
      // Hashes are lowercase: one lookup in email_messages_recipient_lower finds both.
      .where(sql<string>`lower(recipient_email)`, 'in', [lower, hashed])
      .execute();

    const unsent = own
      .filter((m) => m.status === 'scheduled' || m.status === 'queued' || m.status === 'sending')
      .map((m) => m.id);
    if (unsent.length > 0) {
      await trx
        .updateTable('email_messages')
        .set({
          status: 'cancelled',
          next_attempt_at: null,
          lease_owner: null,
          lease_expires_at: null,
          error_message: 'erased on request',
          updated_at: now,
        })
        .where('id', 'in', unsent)
        .where('status', 'in', ['scheduled', 'queued', 'sending'])
        .execute();
      await s.events.record(
        trx,
        unsent.map((id) => ({ messageId: id, type: 'cancelled', at: now, data: { reason: 'erased' } })),
      );
    }
    const scrubbed = await scrubMessages(trx, s.config, s.dialect, s.events, own, now, 'erased');

    // cc/bcc are JSON lists: narrow with LIKE (a scan, but erasure is rare), then decide exactly.
    const copies = await trx
      .selectFrom('email_messages')
      .select(['id', 'cc', 'bcc'])
      .where((eb) =>
        eb.or([
          eb(sql<string>`lower(cc)`, 'like', likeContaining(lower)),
          eb(sql<string>`lower(bcc)`, 'like', likeContaining(lower)),
        ]),
      )
      .execute();
    let copiesChanged = 0;
    for (const m of copies) {
      const replace = (json: string | null) =>
        json === null
          ? null
          : JSON.stringify((JSON.parse(json) as string[]).map((a) => (a.toLowerCase() === lower ? hashed : a)));
      const cc = replace(m.cc);
      const bcc = replace(m.bcc);
      if (cc === m.cc && bcc === m.bcc) continue;
      await trx.updateTable('email_messages').set({ cc, bcc, updated_at: now }).where('id', '=', m.id).execute();
      copiesChanged++;
    }
    // Reports are raw mail: nothing in them can be hashed, so those about the person go whole.
    const ownIds = own.map((m) => m.id);
    const reports = await trx
      .deleteFrom('feedback_reports')
      .where((eb) =>
        eb.or([
          eb('recipient', '=', lower),
          eb(sql<string>`lower(envelope_from)`, '=', lower),
          ...(ownIds.length ? [eb('message_id', 'in', ownIds)] : []),
        ]),
      )
      .executeTakeFirst();
    await trx.deleteFrom('feedback_events').where('recipient', '=', lower).execute();
    return {
      feedback_reports: Number(reports.numDeletedRows),
      messages: scrubbed.messages,
      attachments: scrubbed.attachments,
      copies: copiesChanged,
      cancelled: unsent.length + spooled,
    };
  });
}
