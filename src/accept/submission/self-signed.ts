import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * A self-signed X.509 certificate (ECDSA P-256, SHA-256) for the submission listener when no
 * SUBMISSION_TLS_CERT is given, written in DER by hand: Node can make the key but not the
 * certificate, and a runtime dependency (or a shelled-out openssl, absent from slim images) for
 * one small structure is not worth it. test/submission-tls.test.ts holds it to openssl's and
 * Node's readings. RFC 5280 §4.1: version 3, a random serial, subject = issuer, the names as
 * subjectAltName (what clients check), not a CA.
 */

const lengthOf = (n: number): Buffer => {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), lengthOf(body.length), body]);
};
const sequence = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
/** DER INTEGER of unsigned big-endian bytes: minimal (no leading zero byte unless the next has its high bit set), positive. */
function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}
const utf8String = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));

function objectId(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a! + b!];
  for (const n of rest) {
    const bytes = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime after (§4.1.2.5). */
function time(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, '0');
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  const year = d.getUTCFullYear();
  return year < 2050 ? tlv(0x17, Buffer.from(`${p(year % 100)}${rest}`)) : tlv(0x18, Buffer.from(`${year}${rest}`));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand "::" and write the eight groups.
  const [head, tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') && tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return Buffer.concat(groups.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')));
}

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

export interface SelfSigned {
  /** PEM. */
  cert: string;
  /** PEM (PKCS #8). */
  key: string;
}

/** A certificate for `names` (host names and IP addresses; the first is also the common name), valid `days` from now. */
export function selfSignedCertificate(
  names: string[],
  days = 3650,
  now = new Date(),
  serial: Buffer = randomBytes(16),
): SelfSigned {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = sequence(set(sequence(objectId('2.5.4.3'), utf8String(names[0] ?? 'localhost'))));
  const altNames = sequence(
    ...names.map((n) => (isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii')))),
  );
  const tbs = sequence(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(serial),
    sequence(objectId(ECDSA_WITH_SHA256)),
    name,
    sequence(time(new Date(now.getTime() - 60_000)), time(new Date(now.getTime() + days * 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(
      0xa3,
      sequence(
        sequence(objectId('2.5.29.17'), tlv(0x04, altNames)),
        // basicConstraints: cA false (the default, so an empty sequence).
        sequence(objectId('2.5.29.19'), tlv(0x04, sequence())),
      ),
    ),
  );
  const signature = sign('sha256', tbs, privateKey as KeyObject);
  const der = sequence(tbs, sequence(objectId(ECDSA_WITH_SHA256)), tlv(0x03, Buffer.from([0]), signature));
  const base64 = der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}
