import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * A signed token for a public link: `<payload>.<mac>`, both base64url. The payload is a JSON
 * claim, the MAC a truncated HMAC-SHA256 (128 bits) over `<context>.<payload>`, or over the
 * payload alone without a context (the unsubscribe links already sent are signed so). A context
 * keeps the tokens of one purpose from passing for another's under the same key.
 */
const mac = (key: Buffer, payload: string, context: string | undefined) =>
  createHmac('sha256', key)
    .update(context === undefined ? payload : `${context}.${payload}`)
    .digest()
    .subarray(0, 16);

export function createSignedToken(key: Buffer, claim: unknown, context?: string): string {
  const payload = Buffer.from(JSON.stringify(claim)).toString('base64url');
  return `${payload}.${mac(key, payload, context).toString('base64url')}`;
}

/**
 * The claim of a token whose MAC verifies (compared in constant time) and is written as
 * createSignedToken writes it, JSON-parsed; null for anything else, a payload over `maxPayload`
 * characters included. The caller checks its fields.
 */
export function readSignedToken(key: Buffer, token: string, maxPayload: number, context?: string): unknown {
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$/.exec(token);
  if (!m || m[1]!.length > maxPayload) return null;
  const payload = m[1]!;
  const g = Buffer.from(m[2]!, 'base64url');
  const expected = mac(key, payload, context);
  if (g.length !== expected.length || !timingSafeEqual(g, expected)) return null;
  // 16 bytes in 22 characters: the last one's low 4 bits are dropped by decoding, so 16 spellings
  // would pass. Only the canonical one does (compared with what was sent, not with a secret).
  if (g.toString('base64url') !== m[2]) return null;
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
  } catch {
    return null;
  }
}
