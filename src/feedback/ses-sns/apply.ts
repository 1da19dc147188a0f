import type { Transaction } from 'kysely';
import type { EventLog } from '../../events/index.js';
import type { DB } from '../../platform/db/schema.js';
import { applyFeedback, findFeedbackMessage, type SuppressionRules } from '../apply.js';
import { categorise, suppressesAddress } from '../category.js';
import type { BounceCategory, FeedbackEvent } from '../types.js';
import type { SesEvent } from './ses-event.js';

export interface Applied {
  kind: SesEvent['kind'];
  messageId: string | null;
  statusChanged: boolean;
  suppressed: string[];
}

/** SES's bounce subtypes that name the reason themselves; the others (General, Undetermined) leave it to the diagnostic. */
const SUBTYPE_CATEGORY: Record<string, BounceCategory> = {
  NoEmail: 'unknown_user',
  Suppressed: 'unknown_user',
  OnAccountSuppressionList: 'unknown_user',
  MailboxFull: 'mailbox_full',
  MessageTooLarge: 'message_too_large',
  ContentRejected: 'policy_or_spam_block',
  AttachmentRejected: 'policy_or_spam_block',
};

/** An SES notification as the FeedbackEvents every source gives (one per recipient). */
export function sesFeedbackEvents(e: SesEvent, snsMessageId: string): FeedbackEvent[] {
  if (e.kind === 'Other') return [];
  const base = {
    provider: 'ses' as const,
    at: e.at,
    providerMessageId: e.ids.sesMessageId,
    messageIdHeader: e.ids.messageIdHeader,
    category: null,
    status: null,
    diagnostic: null,
    suppress: false,
    final: true,
    raw: null,
  };
  if (e.kind === 'Delivery') {
    return [
      {
        ...base,
        kind: 'delivered',
        recipient: e.recipients[0]?.toLowerCase() ?? null,
        diagnostic: e.smtpResponse,
        dedupeId: `ses:${snsMessageId}`,
        providerEvent: 'Delivery',
      },
    ];
  }
  if (e.kind === 'Complaint') {
    const recipients = e.recipients.length ? e.recipients : [null];
    return recipients.map((r, i) => ({
      ...base,
      kind: 'complaint',
      recipient: r?.toLowerCase() ?? null,
      diagnostic: e.feedbackType,
      suppress: true,
      dedupeId: `ses:${snsMessageId}:${i}`,
      providerEvent: `Complaint/${e.feedbackType ?? ''}`,
    }));
  }
  const permanent = e.bounceType === 'Permanent';
  const recipients = e.recipients.length
    ? e.recipients
    : [{ email: null, status: null, action: null, diagnostic: null }];
  return recipients.map((r, i) => {
    const c = categorise(r.status, r.diagnostic);
    const category = (c.source === 'default' && SUBTYPE_CATEGORY[e.bounceSubType ?? '']) || c.category;
    const kind = permanent ? 'hard_bounce' : 'soft_bounce';
    return {
      ...base,
      kind,
      recipient: r.email?.toLowerCase() ?? null,
      category,
      status: c.status,
      diagnostic: r.diagnostic,
      suppress: suppressesAddress(kind, category),
      dedupeId: `ses:${snsMessageId}:${i}`,
      providerEvent: `Bounce/${e.bounceType}/${e.bounceSubType ?? ''}`,
    };
  });
}

/** Applies one SES event in the caller's transaction, through the one feedback apply function. */
export async function applySesEvent(
  trx: Transaction<DB>,
  events: EventLog,
  rules: SuppressionRules,
  e: SesEvent,
  snsMessageId: string,
  now: number,
): Promise<Applied> {
  if (e.kind === 'Other') return { kind: e.kind, messageId: null, statusChanged: false, suppressed: [] };
  const message =
    (await findFeedbackMessage(trx, {
      providerMessageId: e.ids.sesMessageId,
      messageIdHeader: e.ids.messageIdHeader,
    })) ?? null;
  const source = { snsMessageId, sesMessageId: e.ids.sesMessageId };
  const extra: Record<string, unknown> =
    e.kind === 'Delivery'
      ? {
          ...source,
          delivered_at: new Date(e.at).toISOString(),
          smtp_response: e.smtpResponse,
          reporting_mta: e.reportingMta,
        }
      : e.kind === 'Bounce'
        ? { ...source, bounce_type: e.bounceType, bounce_subtype: e.bounceSubType, recipients: e.recipients }
        : { ...source, feedback_type: e.feedbackType, recipients: e.recipients };
  const out: Applied = { kind: e.kind, messageId: message?.id ?? null, statusChanged: false, suppressed: [] };
  for (const fe of sesFeedbackEvents(e, snsMessageId)) {
    const r = await applyFeedback(trx, events, rules, fe, {
      source: 'ses',
      sourceEvent: `sns:${snsMessageId}`,
      feedbackId: e.kind === 'Delivery' ? null : e.feedbackId,
      message,
      now,
      extra,
      ...(e.kind === 'Bounce' ? { bounceType: e.bounceType, bounceSubtype: e.bounceSubType } : {}),
    });
    out.statusChanged ||= r.statusChanged;
    out.suppressed.push(...r.suppressed);
  }
  return out;
}
