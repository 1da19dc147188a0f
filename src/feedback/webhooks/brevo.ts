/**
 * Brevo (Sendinblue) transactional webhooks. Brevo signs nothing; a webhook is authenticated by the
 * credentials it is created with: a bearer token ("auth": {"type": "bearer", "token": ...}, sent as
 * Authorization: Bearer) or basic auth in the URL. A token in the URL's query is accepted too, for
 * setups that cannot set either. Batched webhooks post an array of events.
 */
import { suppressesAddress } from '../category.js';
import type { BounceCategory, FeedbackEvent, FeedbackEventKind } from '../types.js';
import {
  type BasicCredentials,
  type HeaderBag,
  type VerifyResult,
  arr,
  bracketed,
  categoryOf,
  checkBasicAuth,
  checkToken,
  event,
  lowerEmail,
  obj,
  ok,
  refuse,
  safeEqual,
  str,
  timeOf,
} from './common.js';

export type BrevoAuth = { token: string; queryParam?: string } | BasicCredentials;

/** Verifies a Brevo request from its headers (and its query string, for a token in the URL). */
export function verifyBrevo(headers: HeaderBag, auth: BrevoAuth, query: Record<string, unknown> = {}): VerifyResult {
  if ('username' in auth) return checkBasicAuth(headers, auth);
  const fromQuery = auth.queryParam ? query[auth.queryParam] : undefined;
  if (typeof fromQuery === 'string' && fromQuery !== '')
    return safeEqual(fromQuery, auth.token) ? ok : refuse('bad_credentials');
  return checkToken(headers, auth.token);
}

interface Mapping {
  kind: FeedbackEventKind;
  final?: boolean;
  category?: BounceCategory;
}

/** Brevo's event names (the webhook's, and the camelCase ones its API and newer payloads use). */
const EVENTS: Record<string, Mapping> = {
  delivered: { kind: 'delivered' },
  hard_bounce: { kind: 'hard_bounce' },
  hardBounce: { kind: 'hard_bounce' },
  soft_bounce: { kind: 'soft_bounce' },
  softBounce: { kind: 'soft_bounce' },
  // Brevo will try again.
  deferred: { kind: 'soft_bounce', final: false },
  // Refused before sending: Brevo holds the address on a block list.
  blocked: { kind: 'dropped' },
  invalid_email: { kind: 'hard_bounce', category: 'unknown_user' },
  invalid: { kind: 'hard_bounce', category: 'unknown_user' },
  spam: { kind: 'complaint' },
  complaint: { kind: 'complaint' },
  unsubscribed: { kind: 'unsubscribe' },
  unsubscribe: { kind: 'unsubscribe' },
  error: { kind: 'other' },
};

function one(raw: unknown, receivedAt: number): FeedbackEvent | null {
  const e = obj(raw);
  const name = typeof e.event === 'string' && e.event !== '' ? e.event : null;
  if (!name) return null;
  const m: Mapping = Object.hasOwn(EVENTS, name) ? EVENTS[name]! : { kind: 'other', final: false };
  const messageId = str(e['message-id']) ?? str(e.messageId);
  // ts_epoch is the one UTC field (ms); ts and ts_event follow the account's time zone.
  const at =
    e.ts_epoch !== undefined ? timeOf(e.ts_epoch, receivedAt, 'ms') : timeOf(e.ts_event ?? e.ts, receivedAt, 's');
  const reason = str(e.reason)?.trim() ?? null;
  const bounce = m.kind === 'hard_bounce' || m.kind === 'soft_bounce';
  const c = bounce ? categoryOf(null, reason, m.category) : null;
  const recipient = lowerEmail(e.email);
  return event({
    provider: 'brevo',
    kind: m.kind,
    recipient,
    at,
    providerMessageId: messageId,
    messageIdHeader: bracketed(messageId),
    category: c?.category ?? null,
    status: c?.status ?? null,
    diagnostic: reason,
    final: m.final ?? true,
    suppress:
      m.kind === 'complaint' ||
      m.kind === 'unsubscribe' ||
      (m.kind === 'hard_bounce' && suppressesAddress('hard_bounce', c?.category ?? null)),
    // Brevo gives no event id: what happened, to which message and address, when.
    dedupeId: `brevo:${name}:${messageId ?? ''}:${recipient ?? ''}:${str(e.ts_epoch) ?? str(e.ts_event) ?? str(e.ts) ?? ''}`,
    providerEvent: name,
    raw,
  });
}

/** The events of a Brevo webhook body: one event object, or an array of them (batched webhooks). */
export function parseBrevo(body: unknown, receivedAt = Date.now()): FeedbackEvent[] {
  return arr(Array.isArray(body) ? body : [body])
    .map((e) => one(e, receivedAt))
    .filter((e): e is FeedbackEvent => e !== null);
}
