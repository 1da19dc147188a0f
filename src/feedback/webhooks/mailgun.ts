/**
 * Mailgun webhooks (JSON, "signature" + "event-data"). Verified as Mailgun documents: HMAC-SHA256 of
 * timestamp + token with the webhook signing key, compared in constant time; then the timestamp must
 * be recent and the token never seen before (the replay cache).
 */
import { createHmac } from 'node:crypto';
import { suppressesAddress } from '../category.js';
import type { FeedbackEvent, FeedbackEventKind } from '../types.js';
import type { ReplayCache } from './replay-cache.js';
import {
  type VerifyFailure,
  type VerifyResult,
  bracketed,
  categoryOf,
  event,
  lowerEmail,
  num,
  obj,
  ok,
  refuse,
  safeEqual,
  str,
  timeOf,
} from './common.js';

export interface MailgunVerifyOptions {
  /** The webhook signing key (not the API key); several while one is being rotated. */
  signingKey: string | string[];
  replayCache: ReplayCache;
  /** Largest accepted age (and clock skew ahead) of the signature's timestamp. Default 300 s. */
  toleranceSeconds?: number;
  now?: () => number;
}

function signed(key: string, timestamp: string, token: string): string {
  return createHmac('sha256', key)
    .update(timestamp + token)
    .digest('hex');
}

/** A Mailgun signature that verified: the one-time token to remember, and until when. */
export type MailgunSignature =
  | { ok: true; replayKey: string; expiresAt: number }
  | { ok: false; reason: VerifyFailure };

const no = (reason: VerifyFailure): MailgunSignature => ({ ok: false, reason });

/**
 * Verifies a parsed Mailgun webhook body's signature and timestamp, and nothing else: no I/O, so
 * the caller runs it before opening any transaction. Subaccount events may carry
 * `parent-signature`, made with the primary account's key: either one passes. The token it
 * answers must then be remembered once (claimMailgunToken; verifyMailgun does both).
 */
export function verifyMailgunSignature(
  body: unknown,
  opts: Omit<MailgunVerifyOptions, 'replayCache'>,
): MailgunSignature {
  const sig = obj(obj(body).signature);
  const timestamp = str(sig.timestamp);
  const token = str(sig.token);
  const given = [str(sig.signature), str(sig['parent-signature'])].filter((s): s is string => s !== null);
  if (!timestamp || !token || given.length === 0) return no('missing_signature');
  if (!/^\d{1,12}$/.test(timestamp) || token.length > 512) return no('malformed');
  const keys = Array.isArray(opts.signingKey) ? opts.signingKey : [opts.signingKey];
  let valid = false;
  for (const key of keys)
    for (const g of given)
      if (key.length > 0 && safeEqual(signed(key, timestamp, token), g.toLowerCase())) valid = true;
  if (!valid) return no('bad_signature');
  const now = (opts.now ?? Date.now)();
  const tolerance = (opts.toleranceSeconds ?? 300) * 1000;
  const at = Number(timestamp) * 1000;
  if (Math.abs(now - at) > tolerance) return no('stale_timestamp');
  // Kept as long as its timestamp could still pass, no longer.
  return { ok: true, replayKey: `mailgun:${token}`, expiresAt: at + tolerance };
}

/**
 * Verifies a parsed Mailgun webhook body: its signature and timestamp, then its token never seen
 * before. The signature is checked first, so unsigned requests cannot fill the replay cache.
 */
export async function verifyMailgun(body: unknown, opts: MailgunVerifyOptions): Promise<VerifyResult> {
  return claimMailgunToken(verifyMailgunSignature(body, opts), opts.replayCache);
}

/** A checked signature's one-time token, remembered in `replayCache`: `replayed` when it was already. */
export async function claimMailgunToken(s: MailgunSignature, replayCache: ReplayCache): Promise<VerifyResult> {
  if (!s.ok) return s;
  return (await replayCache.remember(s.replayKey, s.expiresAt)) ? ok : refuse('replayed');
}

const SUPPRESSED_REASONS = new Set(['suppress-bounce', 'suppress-complaint', 'suppress-unsubscribe']);

/** The event in a Mailgun webhook body, normalised (a list of one, or none for an event without data). */
export function parseMailgun(body: unknown, receivedAt = Date.now()): FeedbackEvent[] {
  const raw = obj(body)['event-data'];
  const d = obj(raw);
  const name = typeof d.event === 'string' && d.event !== '' ? d.event : null;
  if (!name) return [];
  const headers = obj(obj(d.message).headers);
  const messageId = str(headers['message-id']);
  const status = obj(d['delivery-status']);
  const severity = str(d.severity);
  const reason = str(d.reason);
  const code = num(status.code);
  const diagnostic = str(status.message) ?? str(status.description) ?? null;
  const common = {
    provider: 'mailgun' as const,
    recipient: lowerEmail(d.recipient),
    at: timeOf(d.timestamp, receivedAt, 's'),
    providerMessageId: messageId,
    messageIdHeader: bracketed(messageId),
    dedupeId: `mailgun:${str(d.id) ?? `${name}:${messageId ?? ''}:${str(d.recipient) ?? ''}:${str(d.timestamp) ?? ''}`}`,
    providerEvent: [name, severity, reason].filter(Boolean).join('/'),
    raw,
  };
  if (name === 'delivered')
    return [event({ ...common, kind: 'delivered', diagnostic: diagnostic ?? (code ? String(code) : null) })];
  if (name === 'complained') return [event({ ...common, kind: 'complaint', suppress: true })];
  if (name === 'unsubscribed') return [event({ ...common, kind: 'unsubscribe', suppress: true })];
  if (name === 'failed') {
    // Mailgun did not even try: the address is on its own suppression list.
    if (reason && SUPPRESSED_REASONS.has(reason)) return [event({ ...common, kind: 'dropped', diagnostic })];
    const enhanced = str(status['enhanced-code']) ?? str(status.enhanced_code);
    const c = categoryOf(enhanced, [code, diagnostic].filter(Boolean).join(' ') || null);
    const permanent = severity === 'permanent';
    // "old": given up after the retry period; a 4xx reply: temporary by nature. Either way the address may be fine.
    const kind: FeedbackEventKind = !permanent
      ? 'soft_bounce'
      : reason === 'old' || (code !== null && code >= 400 && code < 500)
        ? 'soft_bounce'
        : 'hard_bounce';
    return [
      event({
        ...common,
        kind,
        category: c.category,
        status: c.status,
        diagnostic,
        final: permanent,
        suppress: suppressesAddress(kind === 'hard_bounce' ? 'hard_bounce' : 'soft_bounce', c.category),
      }),
    ];
  }
  if (name === 'rejected')
    return [event({ ...common, kind: 'dropped', diagnostic: str(obj(d.reject).reason) ?? diagnostic })];
  return [event({ ...common, kind: 'other', final: false })];
}
