/**
 * VERP return paths: bounces+<token>@domain, where the token names the message and is signed, so
 * a bounce to it leads back to its message without trusting anything else in the report, and a
 * forged or altered token leads nowhere.
 *
 * token = base32(uuid 16 bytes || HMAC-SHA256(secret, "postier-verp-v1", domain, uuid)[0..10])
 * 42 lowercase characters (a-z, 2-7): safe in a local part, and case-insensitive receivers (which
 * lowercase or uppercase the address) cannot change its meaning. The MAC keeps 80 bits.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const MAC_BYTES = 10;
const TOKEN_CHARS = Math.ceil(((16 + MAC_BYTES) * 8) / 5);
const UUID = /^([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})$/i;

export type VerpSecret = string | Buffer;

export interface VerpOptions {
  /** The local part before the separator. Default "bounces". */
  prefix?: string;
  /** Between prefix and token: "+" (Postfix, most MTAs) or "-" (qmail). Default "+". */
  separator?: '+' | '-';
}

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(text: string): Buffer | null {
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return null;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  // Only the canonical spelling: the last character's unused bits must be zero, or two addresses would name one token.
  if ((value & ((1 << bits) - 1)) !== 0) return null;
  return Buffer.from(bytes);
}

function mac(secret: VerpSecret, domain: string, id: Buffer): Buffer {
  return createHmac('sha256', secret)
    .update('postier-verp-v1\0')
    .update(domain.toLowerCase())
    .update('\0')
    .update(id)
    .digest()
    .subarray(0, MAC_BYTES);
}

const localPrefix = (opts: VerpOptions) => `${(opts.prefix ?? 'bounces').toLowerCase()}${opts.separator ?? '+'}`;

/** The signed return path for one message. Throws on a message id that is not a UUID (Postier's ids are). */
export function encodeVerpAddress(
  messageId: string,
  secret: VerpSecret,
  domain: string,
  opts: VerpOptions = {},
): string {
  const m = UUID.exec(messageId);
  if (!m) throw new TypeError('a VERP token names a message by its UUID');
  if (secret.length === 0) throw new TypeError('a VERP secret must not be empty');
  const id = Buffer.from(m.slice(1).join(''), 'hex');
  return `${localPrefix(opts)}${base32(Buffer.concat([id, mac(secret, domain, id)]))}@${domain.toLowerCase()}`;
}

/**
 * The message id (lowercase UUID) a return path names, or null when the address is not ours, not
 * well formed, or its signature does not check (compared in constant time). Several secrets may be
 * given, newest first, while an old one is being retired.
 */
export function decodeVerpAddress(
  address: string,
  secret: VerpSecret | VerpSecret[],
  domain: string,
  opts: VerpOptions = {},
): string | null {
  const bare = /<([^<>]*)>/.exec(address)?.[1] ?? address;
  const at = bare.lastIndexOf('@');
  if (
    at < 0 ||
    bare
      .slice(at + 1)
      .trim()
      .toLowerCase() !== domain.toLowerCase()
  )
    return null;
  const local = bare.slice(0, at).trim().toLowerCase();
  const prefix = localPrefix(opts);
  if (!local.startsWith(prefix) || local.length !== prefix.length + TOKEN_CHARS) return null;
  const bytes = unbase32(local.slice(prefix.length));
  if (!bytes || bytes.length < 16 + MAC_BYTES) return null;
  const id = bytes.subarray(0, 16);
  const given = bytes.subarray(16, 16 + MAC_BYTES);
  let ok = false;
  for (const s of Array.isArray(secret) ? secret : [secret]) {
    if (s.length > 0 && timingSafeEqual(mac(s, domain, id), given)) ok = true;
  }
  if (!ok) return null;
  const hex = id.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
