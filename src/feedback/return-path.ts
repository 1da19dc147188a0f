/**
 * The VERP return path of each message when BOUNCE_DOMAIN is set: bounces+<signed token>@domain,
 * under a key derived from the one secret (POSTIER_SECRET_KEY or DATA_DIR/secret.key), so every
 * host that shares the database signs and checks the same tokens. Kept apart from the rest of
 * the feature so that the delivery thread imports this and the classifier, not the listener.
 */
import type { Config } from '../platform/config.js';
import { deriveKey } from '../platform/crypto/secret-key.js';
import { decodeVerpAddress, encodeVerpAddress } from './verp.js';

export const verpKey = (config: Config): Buffer => deriveKey(config, 'verp');

/** MAIL FROM for a message id; undefined without BOUNCE_DOMAIN (the From address stays the envelope sender). */
export function returnPathFor(config: Config): ((messageId: string) => string) | undefined {
  const domain = config.feedback.bounceDomain;
  if (!domain) return undefined;
  const key = verpKey(config);
  return (messageId) => encodeVerpAddress(messageId, key, domain);
}

/** The message id a VERP address names, or null (not ours, altered, forged, another domain). */
export function verpMessageId(config: Config, key: Buffer, address: string): string | null {
  const domain = config.feedback.bounceDomain;
  if (!domain) return null;
  return decodeVerpAddress(address, key, domain);
}
