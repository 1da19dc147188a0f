import { chmodSync, existsSync, mkdirSync, type Stats, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Config } from '../../platform/config.js';
import { readTls, type TlsMaterial } from '../../platform/tls-pair.js';
import { selfSignedCertificate } from './self-signed.js';

export interface TlsFiles {
  cert: string;
  key: string;
  /** True when Postier made them (no SUBMISSION_TLS_CERT). */
  generated: boolean;
}

/**
 * SUBMISSION_TLS_CERT / SUBMISSION_TLS_KEY, or a self-signed pair in DATA_DIR/submission-tls,
 * made on first start and kept (clients that pinned it keep working after a restart).
 */
export function tlsFiles(config: Pick<Config, 'dataDir' | 'submission'>): TlsFiles {
  const { tlsCert, tlsKey, host } = config.submission;
  if (tlsCert && tlsKey) return { cert: tlsCert, key: tlsKey, generated: false };
  const dir = path.join(config.dataDir, 'submission-tls');
  const files = { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem'), generated: true };
  if (existsSync(files.cert) && existsSync(files.key) && usable(files)) return files;
  // None yet, or one TLS refuses (versions before 2026-12 wrote an invalid serial 1 time in about 300): a new pair.
  mkdirSync(dir, { recursive: true });
  const names = [
    ...new Set(['localhost', hostname(), '127.0.0.1', '::1', ...(host === '0.0.0.0' || host === '::' ? [] : [host])]),
  ];
  const pair = selfSignedCertificate(names);
  writeFileSync(files.key, pair.key, { mode: 0o600 });
  chmodSync(files.key, 0o600);
  writeFileSync(files.cert, pair.cert);
  return files;
}

const usable = (files: Pick<TlsFiles, 'cert' | 'key'>) => {
  try {
    readTls(files);
    return true;
  } catch {
    return false;
  }
};

/**
 * Calls `onChange` with the new pair whenever either file changes and the pair is usable again
 * (a renewal writes the two files one after the other: the first change alone may not match).
 * Polls the paths (fs.watchFile), so a file replaced by a rename is seen too. Returns the stop.
 */
export function watchTls(
  files: Pick<TlsFiles, 'cert' | 'key'>,
  onChange: (material: TlsMaterial) => void,
  onError: (e: unknown) => void,
  intervalMs = 5000,
): () => void {
  const check = () => {
    let material: TlsMaterial;
    try {
      material = readTls(files);
    } catch (e) {
      onError(e);
      return;
    }
    onChange(material);
  };
  // The size and inode too: a file rewritten in place is first truncated, and a poll that saw it
  // empty may see it complete with the same mtime (file times advance by the kernel's clock tick).
  const listener = (curr: Stats, prev: Stats) => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size || curr.ino !== prev.ino) check();
  };
  watchFile(files.cert, { interval: intervalMs, persistent: false }, listener);
  watchFile(files.key, { interval: intervalMs, persistent: false }, listener);
  return () => {
    unwatchFile(files.cert, listener);
    unwatchFile(files.key, listener);
  };
}
