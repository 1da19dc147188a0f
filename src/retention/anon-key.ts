import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';

/**
 * The key of the address hash. Derived from POSTIER_SECRET_KEY when set (the only choice that
 * gives the same hash on several hosts); otherwise a random key kept in DATA_DIR. Hashes made
 * with one key are only findable with that key: never change it on a live archive.
 */
export function deriveAnonymizationKey(config: Config): Buffer {
  if (config.secretKey) {
    // A purpose-bound sub-key: the secret also seals content, and the two uses must not share a key.
    return Buffer.from(hkdfSync('sha256', Buffer.from(config.secretKey, 'hex'), Buffer.alloc(0), 'postier/anonymize-address', 32));
  }
  const file = path.join(config.dataDir, 'anonymize.key');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    try {
      // 'wx': two processes starting at once must not both write a different key.
      writeFileSync(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    chmodSync(file, 0o600);
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
}

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
