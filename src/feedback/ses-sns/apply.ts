import type { Transaction } from 'kysely';
import type { DB, MessageRow, MessageStatus } from '../../platform/db/schema.js';
import type { EventLog, NewEvent } from '../../events/index.js';
import { ALL_SCOPES, addSuppression } from '../../suppressions/index.js';
import type { MailIds, SesEvent } from './ses-event.js';

type Row = Pick<
  MessageRow,
  'id' | 'status' | 'recipient_email' | 'cc' | 'bcc' | 'template_key' | 'category' | 'created_at'
>;

/** By SES's id first; by our Message-ID when the worker had not stored SES's id. */
async function findMessage(trx: Transaction<DB>, ids: MailIds): Promise<Row | undefined> {
  // The labels too: the event carries them to the metrics subscriber.
  const cols = ['id', 'status', 'recipient_email', 'cc', 'bcc', 'template_key', 'category', 'created_at'] as const;
  if (ids.sesMessageId) {
    const m = await trx
      .selectFrom('email_messages')
      .select(cols)
      .where('provider_message_id', '=', ids.sesMessageId)
      .executeTakeFirst();
    if (m) return m;
  }
  if (ids.messageIdHeader) {
    // Ours are <message id@domain> (send.service.ts): found by primary key, then checked whole.
    const bracketed = ids.messageIdHeader.startsWith('<') ? ids.messageIdHeader : `<${ids.messageIdHeader}>`;
    const id = /^<([0-9a-f-]{36})@/i.exec(bracketed)?.[1]?.toLowerCase();
    if (!id) return undefined;
    return trx
      .selectFrom('email_messages')
      .select(cols)
      .where('id', '=', id)
      .where('smtp_message_id', '=', bracketed)
      .executeTakeFirst();
  }
  return undefined;
}

// Events arrive in any order. A delivery only moves a message that has no verdict yet; a bounce
// overrides a delivery (receivers accept, then bounce); a complaint overrides everything.
const DELIVERABLE: MessageStatus[] = ['queued', 'sending', 'sent', 'failed'];
// A partially sent message keeps that status on a delivery (its recipient_status says who got it).
const BOUNCEABLE: MessageStatus[] = [...DELIVERABLE, 'partially_sent', 'delivered', 'bounced'];

/** Does a bounce concern the message's own recipient (not one of its cc/bcc)? */
function concernsRecipient(m: Row, emails: string[]): boolean {
  const lower = emails.map((e) => e.toLowerCase());
  if (lower.includes(m.recipient_email.toLowerCase())) return true;
  const copies = [
    ...(m.cc ? (JSON.parse(m.cc) as string[]) : []),
    ...(m.bcc ? (JSON.parse(m.bcc) as string[]) : []),
  ].map((e) => e.toLowerCase());
  // SES may report a rewritten address: when no copy bounced, it was the recipient.
  return lower.length === 0 || !lower.some((e) => copies.includes(e));
}

export interface Applied {
  kind: SesEvent['kind'];
  messageId: string | null;
  statusChanged: boolean;
  suppressed: string[];
}

/** Applies one SES event in the caller's transaction: message status, event, suppressions. */
export async function applySesEvent(
  trx: Transaction<DB>,
  events: EventLog,
  e: SesEvent,
  snsMessageId: string,
  now: number,
): Promise<Applied> {
  const record = (m: Row, type: string, data: NewEvent['data']) =>
    events.record(trx, [{ messageId: m.id, type, at: now, data, labels: m }]);
  if (e.kind === 'Other') return { kind: e.kind, messageId: null, statusChanged: false, suppressed: [] };
  const m = await findMessage(trx, e.ids);
  const suppressed: string[] = [];
  let changed = false;
  const source = { snsMessageId, sesMessageId: e.ids.sesMessageId };

  if (e.kind === 'Delivery') {
    if (m) {
      const r = await trx
        .updateTable('email_messages')
        .set({ status: 'delivered', delivered_at: e.at, updated_at: now })
        .where('id', '=', m.id)
        .where('status', 'in', DELIVERABLE)
        .executeTakeFirst();
      changed = Number(r.numUpdatedRows) > 0;
      await record(m, 'delivered', {
        ...source,
        delivered_at: new Date(e.at).toISOString(),
        smtp_response: e.smtpResponse,
        reporting_mta: e.reportingMta,
        ...(changed ? {} : { status_unchanged: m.status }),
      });
    }
    return { kind: e.kind, messageId: m?.id ?? null, statusChanged: changed, suppressed };
  }

  if (e.kind === 'Bounce') {
    // Only a permanent bounce says the address is bad; a transient one may work tomorrow.
    if (e.bounceType === 'Permanent') {
      for (const r of e.recipients) {
        if (
          await addSuppression(trx, {
            email: r.email,
            scope: ALL_SCOPES,
            reason: 'bounce',
            source: 'ses',
            sourceEvent: `sns:${snsMessageId}`,
            messageId: m?.id,
            details: r.diagnostic ?? `${e.bounceType}/${e.bounceSubType ?? ''}`,
            at: now,
          })
        ) {
          suppressed.push(r.email);
        }
      }
    }
    if (m) {
      const mine = concernsRecipient(
        m,
        e.recipients.map((r) => r.email),
      );
      const diagnostic =
        e.recipients.find((r) => r.email.toLowerCase() === m.recipient_email.toLowerCase())?.diagnostic ??
        e.recipients[0]?.diagnostic ??
        null;
      if (mine) {
        const r = await trx
          .updateTable('email_messages')
          .set({
            status: 'bounced',
            bounce_type: e.bounceType,
            bounce_subtype: e.bounceSubType,
            error_message: diagnostic ?? `${e.bounceType} bounce (${e.bounceSubType ?? 'no subtype'})`,
            updated_at: now,
          })
          .where('id', '=', m.id)
          .where('status', 'in', BOUNCEABLE)
          .executeTakeFirst();
        changed = Number(r.numUpdatedRows) > 0;
      }
      await record(m, 'bounced', {
        ...source,
        bounce_type: e.bounceType,
        bounce_subtype: e.bounceSubType,
        feedback_id: e.feedbackId,
        recipients: e.recipients,
        suppressed,
        ...(changed ? {} : { status_unchanged: m.status }),
      });
    }
    return { kind: e.kind, messageId: m?.id ?? null, statusChanged: changed, suppressed };
  }

  for (const email of e.recipients) {
    if (
      await addSuppression(trx, {
        email,
        scope: ALL_SCOPES,
        reason: 'complaint',
        source: 'ses',
        sourceEvent: `sns:${snsMessageId}`,
        messageId: m?.id,
        details: e.feedbackType,
        at: now,
      })
    ) {
      suppressed.push(email);
    }
  }
  if (m) {
    const r = await trx
      .updateTable('email_messages')
      .set({ status: 'complaint', updated_at: now })
      .where('id', '=', m.id)
      .where('status', '!=', 'complaint')
      .executeTakeFirst();
    changed = Number(r.numUpdatedRows) > 0;
    await record(m, 'complaint', {
      ...source,
      feedback_type: e.feedbackType,
      feedback_id: e.feedbackId,
      recipients: e.recipients,
      suppressed,
    });
  }
  return { kind: e.kind, messageId: m?.id ?? null, statusChanged: changed, suppressed };
}
