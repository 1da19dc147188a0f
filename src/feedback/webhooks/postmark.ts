/**
 * Postmark webhooks (Bounce, SpamComplaint, Delivery, SubscriptionChange; Open and Click pass as
 * "other"). Postmark signs nothing: it authenticates with the HTTP basic credentials written in the
 * webhook URL (https://user:pass@host/...), or a custom header set on the webhook.
 */
import { classifyReport } from '../classify.js';
import { suppressesAddress } from '../category.js';
import type { BounceCategory, FeedbackEvent, FeedbackEventKind } from '../types.js';
import {
  type BasicCredentials,
  type HeaderBag,
  type VerifyResult,
  arr,
  categoryOf,
  checkBasicAuth,
  checkToken,
  event,
  lowerEmail,
  num,
  obj,
  str,
  timeOf,
} from './common.js';

export type PostmarkAuth = BasicCredentials | { header: string; token: string };

export function verifyPostmark(headers: HeaderBag, auth: PostmarkAuth): VerifyResult {
  return 'username' in auth ? checkBasicAuth(headers, auth) : checkToken(headers, auth.token, auth.header);
}

interface BounceMapping {
  kind: FeedbackEventKind;
  final?: boolean;
  /** When the Details say nothing more precise. */
  category?: BounceCategory;
  /** The type itself says why: the Details do not change the category. */
  fixed?: boolean;
}

/** Postmark's bounce Type values (https://postmarkapp.com/developer/api/bounce-api#bounce-types). */
const BOUNCE_TYPES: Record<string, BounceMapping> = {
  HardBounce: { kind: 'hard_bounce', category: 'unknown_user' },
  BadEmailAddress: { kind: 'hard_bounce', category: 'unknown_user' },
  SoftBounce: { kind: 'soft_bounce' },
  // "Message delayed": Postmark is still trying.
  Transient: { kind: 'soft_bounce', final: false },
  DnsError: { kind: 'soft_bounce', category: 'network' },
  // Refused as spam, blocked or for its content: our message, not the address.
  SpamNotification: { kind: 'soft_bounce', category: 'policy_or_spam_block', fixed: true },
  Blocked: { kind: 'soft_bounce', category: 'policy_or_spam_block', fixed: true },
  DMARCPolicy: { kind: 'soft_bounce', category: 'policy_or_spam_block', fixed: true },
  VirusNotification: { kind: 'soft_bounce', category: 'policy_or_spam_block', fixed: true },
  SpamComplaint: { kind: 'complaint' },
  Unsubscribe: { kind: 'unsubscribe' },
  ManualSuppression: { kind: 'unsubscribe' },
  Subscribe: { kind: 'resubscribe' },
  AutoResponder: { kind: 'auto_reply' },
  AddressChange: { kind: 'auto_reply' },
  // Not sent by Postmark: the address was already inactive there.
  ManuallyDeactivated: { kind: 'dropped' },
  Unconfirmed: { kind: 'dropped' },
  TemplateRenderingFailed: { kind: 'dropped' },
  ChallengeVerification: { kind: 'other' },
  OpenRelayTest: { kind: 'other' },
  SMTPApiError: { kind: 'other' },
  InboundError: { kind: 'other' },
  Unknown: { kind: 'other' },
};

/** Our Message-ID from the bounce's raw Content, when the webhook is set to include it. */
function messageIdFromContent(content: unknown): string | null {
  const text = str(content);
  return text ? classifyReport(Buffer.from(text.slice(0, 256 * 1024), 'utf8')).original.messageId : null;
}

function one(record: unknown, receivedAt: number): FeedbackEvent | null {
  const e = obj(record);
  const type = str(e.RecordType);
  const common = { provider: 'postmark' as const, providerMessageId: str(e.MessageID), raw: record };
  if (type === 'Delivery') {
    const recipient = lowerEmail(e.Recipient);
    return event({
      ...common,
      kind: 'delivered',
      recipient,
      at: timeOf(e.DeliveredAt, receivedAt),
      messageIdHeader: null,
      diagnostic: str(e.Details),
      dedupeId: `postmark:delivery:${str(e.MessageID) ?? ''}:${recipient ?? ''}`,
      providerEvent: 'Delivery',
    });
  }
  if (type === 'SubscriptionChange') {
    const suppressed = e.SuppressSending === true;
    const reason = str(e.SuppressionReason);
    const kind: FeedbackEventKind = !suppressed
      ? 'resubscribe'
      : reason === 'HardBounce'
        ? 'hard_bounce'
        : reason === 'SpamComplaint'
          ? 'complaint'
          : 'unsubscribe';
    const recipient = lowerEmail(e.Recipient);
    const at = timeOf(e.ChangedAt, receivedAt);
    return event({
      ...common,
      kind,
      recipient,
      at,
      messageIdHeader: null,
      category: kind === 'hard_bounce' ? 'unknown_user' : null,
      suppress: suppressed,
      dedupeId: `postmark:subscription:${str(e.MessageID) ?? ''}:${recipient ?? ''}:${at}:${suppressed}`,
      providerEvent: `SubscriptionChange/${reason ?? (suppressed ? 'suppressed' : 'reactivated')}`,
    });
  }
  if (type === 'Bounce' || type === 'SpamComplaint') {
    const bounceType = str(e.Type) ?? (type === 'SpamComplaint' ? 'SpamComplaint' : 'Unknown');
    const m: BounceMapping = Object.hasOwn(BOUNCE_TYPES, bounceType) ? BOUNCE_TYPES[bounceType]! : { kind: 'other' };
    // Details is the receiving server's answer; Description is Postmark's fixed text for the type.
    const details = str(e.Details);
    const diagnostic = details ?? str(e.Description);
    const bounce = m.kind === 'hard_bounce' || m.kind === 'soft_bounce';
    const c = !bounce
      ? null
      : m.fixed
        ? { category: m.category!, status: categoryOf(null, details).status }
        : categoryOf(null, details, m.category);
    const suppress =
      m.kind === 'complaint' ||
      m.kind === 'unsubscribe' ||
      (m.kind === 'hard_bounce' && suppressesAddress('hard_bounce', c?.category ?? null));
    return event({
      ...common,
      kind: m.kind,
      recipient: lowerEmail(e.Email),
      at: timeOf(e.BouncedAt, receivedAt),
      messageIdHeader: messageIdFromContent(e.Content),
      category: c?.category ?? null,
      status: c?.status ?? null,
      diagnostic,
      suppress,
      final: m.final ?? true,
      dedupeId: `postmark:bounce:${num(e.ID) ?? str(e.ID) ?? `${str(e.MessageID) ?? ''}:${bounceType}`}`,
      providerEvent: `${type}/${bounceType}`,
    });
  }
  if (type === 'Open' || type === 'Click') {
    const recipient = lowerEmail(e.Recipient);
    const at = timeOf(e.ReceivedAt, receivedAt);
    return event({
      ...common,
      kind: 'other',
      recipient,
      at,
      messageIdHeader: null,
      final: false,
      dedupeId: `postmark:${type.toLowerCase()}:${str(e.MessageID) ?? ''}:${recipient ?? ''}:${at}`,
      providerEvent: type,
    });
  }
  return null;
}

/** Postmark posts one record per request; an array (a replayed log) is read too. Unknown records are left out. */
export function parsePostmark(body: unknown, receivedAt = Date.now()): FeedbackEvent[] {
  const records = Array.isArray(body) ? body : [body];
  return arr(records)
    .map((r) => one(r, receivedAt))
    .filter((e): e is FeedbackEvent => e !== null);
}
