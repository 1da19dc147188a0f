import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM with a fresh 96-bit nonce per seal. Layout of a sealed blob:
 * `0x01 | nonce (12) | tag (16) | ciphertext`. The leading format byte lets a later
 * algorithm or key rotation tell old blobs apart. `aad` binds a blob to its owner (a message
 * id), so a blob copied onto another row does not open.
 */
const FORMAT = 1;
const NONCE = 12;
const TAG = 16;

export class UnsealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsealError';
  }
}

export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([FORMAT]), nonce, cipher.getAuthTag(), body]);
}

export function unseal(key: Buffer, sealed: Buffer, aad: string): Buffer {
  if (sealed.length < 1 + NONCE + TAG || sealed[0] !== FORMAT)
    throw new UnsealError('not a sealed blob (unknown format)');
  const nonce = sealed.subarray(1, 1 + NONCE);
  const tag = sealed.subarray(1 + NONCE, 1 + NONCE + TAG);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(sealed.subarray(1 + NONCE + TAG)), decipher.final()]);
  } catch {
    throw new UnsealError('sealed content does not open with this key (is POSTIER_SECRET_KEY the same on every host?)');
  }
}
