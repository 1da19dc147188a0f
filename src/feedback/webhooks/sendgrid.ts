/**
 * SendGrid's Signed Event Webhook. SendGrid signs timestamp + raw body with its ECDSA P-256 key
 * (SHA-256, DER signature, base64) and sends the signature and timestamp in
 * X-Twilio-Email-Event-Webhook-Signature / -Timestamp; the public key is shown, base64 DER, in its
 * settings. The body is an array of events (batched).
 */
import { type KeyObject, createPublicKey, verify } from 'node:crypto';
import { suppressesAddress } from '../category.js';
import type { BounceCategory, FeedbackEvent, FeedbackEventKind } from '../types.js';
import {
  type HeaderBag,
  type VerifyResult,
  arr,
  bracketed,
  categoryOf,
  event,
  header,
  lowerEmail,
  obj,
  ok,
  refuse,
  str,
  timeOf,
} from './common.js';

export const SENDGRID_SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const SENDGRID_TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

/**
 * The verification key from SendGrid's settings (base64 DER, or PEM). Throws when it is not an
 * EC P-256 public key: a configuration error, to be found at start-up, not on the first event.
 */
export function sendGridPublicKey(key: string): KeyObject {
  const k = key.includes('BEGIN PUBLIC KEY')
    ? createPublicKey(key)
    : createPublicKey({ key: Buffer.from(key.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'spki' });
  if (k.asymmetricKeyType !== 'ec' || k.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new TypeError('the SendGrid verification key must be an EC P-256 public key');
  return k;
}

export interface SendGridVerifyOptions {
  publicKey: KeyObject | string;
  /** Largest accepted age (and clock skew ahead) of the signed timestamp. Default 300 s; null accepts any age. */
  toleranceSeconds?: number | null;
  now?: () => number;
}

/** Verifies a SendGrid request from its headers and its raw body (the exact bytes received). */
export function verifySendGrid(
  headers: HeaderBag,
  rawBody: Buffer | string,
  opts: SendGridVerifyOptions,
): VerifyResult {
  const signature = header(headers, SENDGRID_SIGNATURE_HEADER);
  const timestamp = header(headers, SENDGRID_TIMESTAMP_HEADER);
  if (!signature || !timestamp) return refuse('missing_signature');
  if (!/^\d{1,12}$/.test(timestamp.trim()) || !/^[A-Za-z0-9+/=\s]{8,400}$/.test(signature)) return refuse('malformed');
  const key = typeof opts.publicKey === 'string' ? sendGridPublicKey(opts.publicKey) : opts.publicKey;
  let valid = false;
  try {
    const payload = Buffer.concat([
      Buffer.from(timestamp.trim(), 'utf8'),
      typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody,
    ]);
    valid = verify('sha256', payload, { key, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'));
  } catch {
    valid = false;
  }
  if (!valid) return refuse('bad_signature');
  if (opts.toleranceSeconds !== null) {
    const tolerance = (opts.toleranceSeconds ?? 300) * 1000;
    if (Math.abs((opts.now ?? Date.now)() - Number(timestamp) * 1000) > tolerance) return refuse('stale_timestamp');
  }
  return ok;
}

/** SendGrid's bounce_classification, for when the reply text names no reason. */
const CLASSIFICATION: Record<string, BounceCategory> = {
  'Invalid Address': 'unknown_user',
  'Mailbox Unavailable': 'unknown_user',
  Technical: 'network',
  Content: 'policy_or_spam_block',
  Reputation: 'policy_or_spam_block',
  'Frequency or Volume': 'policy_or_spam_block',
  Unclassified: 'other',
};

function one(raw: unknown, receivedAt: number): FeedbackEvent | null {
  const e = obj(raw);
  const name = typeof e.event === 'string' && e.event !== '' ? e.event : null;
  if (!name) return null;
  const sgMessageId = str(e.sg_message_id);
  const common = {
    provider: 'sendgrid' as const,
    recipient: lowerEmail(e.email),
    at: timeOf(e.timestamp, receivedAt, 's'),
    // The id SendGrid's send API answers (X-Message-Id) is the part before ".filter…".
    providerMessageId: sgMessageId ? sgMessageId.split('.')[0]! : null,
    messageIdHeader: bracketed(e['smtp-id']),
    dedupeId: `sendgrid:${str(e.sg_event_id) ?? `${name}:${sgMessageId ?? ''}:${str(e.email) ?? ''}:${str(e.timestamp) ?? ''}`}`,
    raw,
  };
  const type = str(e.type);
  const reason = str(e.reason);
  const response = str(e.response);
  let kind: FeedbackEventKind;
  switch (name) {
    case 'delivered':
      return event({ ...common, kind: 'delivered', diagnostic: response, providerEvent: name });
    case 'deferred': {
      const c = categoryOf(null, response ?? reason);
      return event({
        ...common,
        kind: 'soft_bounce',
        category: c.category,
        status: c.status,
        diagnostic: response ?? reason,
        final: false,
        providerEvent: name,
      });
    }
    case 'bounce': {
      // type "bounce": the address refused for good; "blocked": our message was refused (reputation, content).
      kind = type === 'blocked' ? 'soft_bounce' : 'hard_bounce';
      const c = categoryOf(
        str(e.status),
        reason,
        (Object.hasOwn(CLASSIFICATION, str(e.bounce_classification) ?? '')
          ? CLASSIFICATION[str(e.bounce_classification)!]
          : undefined) ?? (type === 'blocked' ? 'policy_or_spam_block' : undefined),
      );
      return event({
        ...common,
        kind,
        category: c.category,
        status: c.status ?? str(e.status),
        diagnostic: reason,
        suppress: suppressesAddress(kind === 'hard_bounce' ? 'hard_bounce' : 'soft_bounce', c.category),
        providerEvent: `bounce/${type ?? 'bounce'}`,
      });
    }
    case 'dropped':
      return event({ ...common, kind: 'dropped', diagnostic: reason, providerEvent: name });
    case 'spamreport':
      return event({ ...common, kind: 'complaint', suppress: true, providerEvent: name });
    case 'unsubscribe':
    case 'group_unsubscribe':
      return event({ ...common, kind: 'unsubscribe', suppress: true, providerEvent: name });
    case 'group_resubscribe':
      return event({ ...common, kind: 'resubscribe', providerEvent: name });
    default:
      return event({ ...common, kind: 'other', final: false, providerEvent: name });
  }
}

/** The events of a SendGrid webhook body (an array); entries that are not events are left out. */
export function parseSendGrid(body: unknown, receivedAt = Date.now()): FeedbackEvent[] {
  return arr(Array.isArray(body) ? body : [body])
    .map((e) => one(e, receivedAt))
    .filter((e): e is FeedbackEvent => e !== null);
}
