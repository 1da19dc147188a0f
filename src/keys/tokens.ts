import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Tokens carry 192 random bits, so a fast hash is enough at rest (no password stretching
 * needed): SHA-256, compared in constant time.
 */
export const generateToken = (): string => `pst_${randomBytes(24).toString('base64url')}`;
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');
export const tokenPrefix = (token: string): string => token.slice(0, 10);

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
