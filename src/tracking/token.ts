import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a tracking link carries: the message, and for a click the link's position and its URL. */
export interface TrackingClaim {
  messageId: string;
  link?: number;
  url?: string;
}

export type TrackingKind = 'o' | 'c';

const mac = (key: Buffer, kind: TrackingKind, payload: string) =>
  createHmac('sha256', key).update(`${kind}.${payload}`).digest().subarray(0, 16);

/**
 * `<payload>.<mac>`, both base64url: the payload is the JSON claim, the MAC a truncated
 * HMAC-SHA256 (128 bits) over the kind and the payload, so an open token is no click token and
 * no one can make the click endpoint redirect anywhere the mail did not link to.
 */
export function createTrackingToken(key: Buffer, kind: TrackingKind, claim: TrackingClaim): string {
  const body = kind === 'o' ? { m: claim.messageId } : { m: claim.messageId, l: claim.link, u: claim.url };
  const payload = Buffer.from(JSON.stringify(body)).toString('base64url');
  return `${payload}.${mac(key, kind, payload).toString('base64url')}`;
}

export function verifyTrackingToken(key: Buffer, kind: TrackingKind, token: string): TrackingClaim | null {
  const m = /^([A-Za-z0-9_-]{1,12000})\.([A-Za-z0-9_-]{22})$/.exec(token);
  if (!m) return null;
  const given = Buffer.from(m[2]!, 'base64url');
  const expected = mac(key, kind, m[1]!);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const c = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as { m?: unknown; l?: unknown; u?: unknown };
    if (typeof c.m !== 'string') return null;
    if (kind === 'o') return { messageId: c.m };
    if (typeof c.l !== 'number' || typeof c.u !== 'string' || !/^https?:\/\//i.test(c.u)) return null;
    return { messageId: c.m, link: c.l, url: c.u };
  } catch {
    return null;
  }
}
