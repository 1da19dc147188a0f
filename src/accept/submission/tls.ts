import { chmodSync, existsSync, mkdirSync, readFileSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Config } from '../../platform/config.js';
import { selfSignedCertificate } from './self-signed.js';

export interface TlsMaterial {
  key: string;
  cert: string;
}

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

/** Reads the pair and checks that TLS can use it (the key matches the certificate). */
export function readTls(files: Pick<TlsFiles, 'cert' | 'key'>): TlsMaterial {
  const material = { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') };
  createSecureContext(material);
  return material;
}

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
  const listener = (curr: { mtimeMs: number }, prev: { mtimeMs: number }) => {
    if (curr.mtimeMs !== prev.mtimeMs) check();
  };
  watchFile(files.cert, { interval: intervalMs, persistent: false }, listener);
  watchFile(files.key, { interval: intervalMs, persistent: false }, listener);
  return () => {
    unwatchFile(files.cert, listener);
    unwatchFile(files.key, listener);
  };
}
