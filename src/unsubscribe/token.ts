import { createSignedToken, readSignedToken } from '../platform/crypto/signed-token.js';

export interface UnsubscribeClaim {
  email: string;
  cls: string;
  /** Language of the confirmation page: the message's locale. */
  locale: string;
}

/**
 * `<payload>.<mac>` (platform/crypto/signed-token.ts): the payload is the JSON claim. No expiry:
 * an unsubscribe link must work years later.
 */
export function createUnsubscribeToken(key: Buffer, claim: UnsubscribeClaim): string {
  return createSignedToken(key, { e: claim.email, c: claim.cls, l: claim.locale });
}

export function verifyUnsubscribeToken(key: Buffer, token: string): UnsubscribeClaim | null {
  const c = readSignedToken(key, token, 1500) as { e?: unknown; c?: unknown; l?: unknown } | null;
  if (!c || typeof c.e !== 'string' || typeof c.c !== 'string' || typeof c.l !== 'string') return null;
  return { email: c.e, cls: c.c, locale: c.l };
}
