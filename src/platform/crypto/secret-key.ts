import { hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type pino from 'pino';
import type { Config } from '../config.js';

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/**
 * The 32-byte key that seals sensitive content at rest. POSTIER_SECRET_KEY wins; without it a
 * key is generated once into DATA_DIR/secret.key (mode 0600) and reused on every later start,
 * so sealed rows written before a restart can still be opened after it.
 */
export function loadSecretKey(config: Config, log?: pino.Logger): Buffer {
  if (config.secretKey) return Buffer.from(config.secretKey, 'hex');
  const file = path.join(config.dataDir, 'secret.key');
  const existing = readKeyFile(file);
  if (existing) return existing;

  mkdirSync(config.dataDir, { recursive: true });
  try {
    // 'wx': two processes starting at once must not each write their own key.
    writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    log?.warn(
      { file },
      'POSTIER_SECRET_KEY is not set: generated a key into the data folder. Back it up, and set POSTIER_SECRET_KEY to the same value on every host that shares the database.',
    );
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const key = readKeyFile(file);
  if (!key) throw new Error(`${file}: expected 64 hex characters`);
  return key;
}

function readKeyFile(file: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  if (!HEX_KEY.test(text)) {
    // A half-written file from a concurrent start reads as empty: let the caller retry the read.
    if (text === '') return undefined;
    throw new Error(`${file}: expected 64 hex characters`);
  }
  return Buffer.from(text, 'hex');
}

/**
 * A purpose-bound sub-key of the one secret (HKDF-SHA256): unsubscribe links, address hashes and
 * sealed content never share a key, and one POSTIER_SECRET_KEY (or one secret.key file) is all an
 * operator has to back up and copy to every host.
 */
export function deriveKey(config: Config, purpose: 'unsubscribe' | 'anonymize-address' | 'verp' | 'tracking'): Buffer {
  return Buffer.from(hkdfSync('sha256', loadSecretKey(config), Buffer.alloc(0), `postier/${purpose}/v1`, 32));
}
