import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';

/**
 * The one place that decides the key signing unsubscribe links. With POSTIER_SECRET_KEY set,
 * it is derived from it (so every process and host agrees); otherwise a random key is kept in
 * DATA_DIR, written once — with several hosts, set POSTIER_SECRET_KEY.
 */
export function unsubscribeKey(config: Config): Buffer {
  if (config.secretKey) return createHmac('sha256', Buffer.from(config.secretKey, 'hex')).update('postier/unsubscribe/v1').digest();
  const file = path.join(config.dataDir, 'unsubscribe.key');
  try {
    return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  } catch {
    mkdirSync(config.dataDir, { recursive: true });
    try {
      // 'wx': when two processes start together, the first write wins and both read it back.
      writeFileSync(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  }
}
