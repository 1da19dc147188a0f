import { createSignedToken, readSignedToken } from '../platform/crypto/signed-token.js';

/** What a tracking link carries: the message, and for a click the link's position and its URL. */
export interface TrackingClaim {
  messageId: string;
  link?: number;
  url?: string;
}

export type TrackingKind = 'o' | 'c';

/**
 * `<payload>.<mac>` (platform/crypto/signed-token.ts), the kind as the MAC's context, so an open
 * token is no click token and no one can make the click endpoint redirect anywhere the mail did
 * not link to.
 */
export function createTrackingToken(key: Buffer, kind: TrackingKind, claim: TrackingClaim): string {
  const body = kind === 'o' ? { m: claim.messageId } : { m: claim.messageId, l: claim.link, u: claim.url };
  return createSignedToken(key, body, kind);
}

export function verifyTrackingToken(key: Buffer, kind: TrackingKind, token: string): TrackingClaim | null {
  const c = readSignedToken(key, token, 12_000, kind) as { m?: unknown; l?: unknown; u?: unknown } | null;
  if (!c || typeof c.m !== 'string') return null;
  if (kind === 'o') return { messageId: c.m };
  if (typeof c.l !== 'number' || typeof c.u !== 'string' || !/^https?:\/\//i.test(c.u)) return null;
  // The Location as a browser would send it: links signed before they were normalised at send
  // time (6971d8f) may hold spaces, non-ASCII or a line break, which Node refuses in a header (a 500).
  let url: URL;
  try {
    url = new URL(c.u);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  return { messageId: c.m, link: c.l, url: url.href };
}
