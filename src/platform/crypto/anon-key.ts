import { createHmac } from 'node:crypto';
import type { Config } from '../config.js';
import { deriveKey } from './secret-key.js';

/**
 * The key of the address hash: a sub-key of the one secret. Hashes made with one key are only
 * findable with that key: never change POSTIER_SECRET_KEY on a live archive.
 */
export const deriveAnonymizationKey = (config: Config): Buffer => deriveKey(config, 'anonymize-address');

const keys = new WeakMap<Config, Buffer>();

/** `anon:<hex>`: recognisable in the archive, and the same for the same address (case-insensitive). */
export function anonymizeAddress(config: Config, address: string): string {
  let key = keys.get(config);
  if (!key) {
    key = deriveAnonymizationKey(config);
    keys.set(config, key);
  }
  return `anon:${createHmac('sha256', key).update(address.trim().toLowerCase()).digest('hex')}`;
}

export const isAnonymized = (address: string): boolean => address.startsWith('anon:');
