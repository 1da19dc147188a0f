import { createHmac, timingSafeEqual } from 'node:crypto';

export interface UnsubscribeClaim {
  email: string;
  cls: string;
  /** Language of the confirmation page: the message's locale. */
  locale: string;
}

const sign = (key: Buffer, payload: string) => createHmac('sha256', key).update(payload).digest().subarray(0, 16);

/**
 * `<payload>.<mac>`, both base64url: the payload is the JSON claim, the MAC a truncated
 * HMAC-SHA256 (128 bits). No expiry: an unsubscribe link must work years later.
 */
export function createUnsubscribeToken(key: Buffer, claim: UnsubscribeClaim): string {
  const payload = Buffer.from(JSON.stringify({ e: claim.email, c: claim.cls, l: claim.locale })).toString('base64url');
  return `${payload}.${sign(key, payload).toString('base64url')}`;
}

export function verifyUnsubscribeToken(key: Buffer, token: string): UnsubscribeClaim | null {
  const m = /^([A-Za-z0-9_-]{1,1500})\.([A-Za-z0-9_-]{22})$/.exec(token);
  if (!m) return null;
  const given = Buffer.from(m[2]!, 'base64url');
  const expected = sign(key, m[1]!);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const c = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as { e?: unknown; c?: unknown; l?: unknown };
    if (typeof c.e !== 'string' || typeof c.c !== 'string' || typeof c.l !== 'string') return null;
    return { email: c.e, cls: c.c, locale: c.l };
  } catch {
    return null;
  }
}
