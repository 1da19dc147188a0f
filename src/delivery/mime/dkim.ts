import { createHash, createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { type Field, fold } from './header.js';

/**
 * DKIM (RFC 6376): rsa-sha256, relaxed/relaxed, over the fields Nodemailer signs by default
 * (RFC 4871 §5.5's list) plus List-Unsubscribe-Post, which RFC 8058 §4 requires to be signed
 * for one-click unsubscription. A message is signed once, when it is built; the key is loaded
 * when the signer is made, so a key that does not load stops start-up (platform/config.ts checks it too).
 */

const SIGNED_FIELDS = [
  'from',
  'sender',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'to',
  'cc',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-id',
  'content-description',
  'resent-date',
  'resent-from',
  'resent-sender',
  'resent-to',
  'resent-cc',
  'resent-message-id',
  'in-reply-to',
  'references',
  'list-id',
  'list-help',
  'list-unsubscribe',
  'list-unsubscribe-post',
  'list-subscribe',
  'list-post',
  'list-owner',
  'list-archive',
];

export interface DkimOptions {
  domain: string;
  selector: string;
  /** PEM. */
  privateKey: string;
}

/** Relaxed header canonicalization (§3.4.2): name lower-cased, value unfolded, white space runs as one space, trimmed. */
export const relaxedHeader = (name: string, line: string): string =>
  `${name.toLowerCase()}:${line
    .slice(line.indexOf(':') + 1)
    .replace(/\r\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .trim()}`;

/**
 * Relaxed body canonicalization (§3.4.4) of a body whose line breaks are CRLF: white space runs
 * as one space, none at a line's end, no empty lines at the end, and a non-empty body ends with CRLF.
 */
export function relaxedBody(body: Buffer): string {
  const text = body
    .toString('latin1')
    .replace(/[ \t]+/g, ' ')
    .replace(/ \r\n/g, '\r\n')
    .replace(/(?:\r\n)+$/, '');
  const last = text.endsWith(' ') ? text.slice(0, -1) : text;
  return last ? `${last}\r\n` : '';
}

export class DkimSigner {
  private readonly key: KeyObject;
  /** The d= domain (ASCII). */
  readonly domain: string;
  private readonly selector: string;

  constructor(options: DkimOptions) {
    this.key = createPrivateKey(options.privateKey);
    if (this.key.asymmetricKeyType !== 'rsa')
      throw new Error(`DKIM: an RSA private key is needed for rsa-sha256, not ${this.key.asymmetricKeyType}`);
    // A tag value cannot hold a control character, ";" or "=" (they would end it or start a tag).
    const tag = (v: string) => v.replace(/[\x00-\x20\x7f;=]/g, '');
    this.domain = domainToASCII(tag(options.domain)) || tag(options.domain);
    this.selector = tag(options.selector);
  }

  /** The DKIM-Signature field for a message with these header fields and this body (both as written). */
  sign(fields: Field[], body: Buffer): Field {
    const bh = createHash('sha256').update(relaxedBody(body), 'latin1').digest('base64');
    const present = new Set(fields.map((f) => f.name.toLowerCase()));
    const names = SIGNED_FIELDS.filter((n) => present.has(n));
    // §5.4.2: a field that appears more than once is signed from the bottom; ours appear once.
    const byName = new Map(fields.map((f) => [f.name.toLowerCase(), f] as const));
    const tags = `v=1; a=rsa-sha256; c=relaxed/relaxed; d=${this.domain}; q=dns/txt; s=${this.selector}; bh=${bh}; h=${names.join(':')};`;
    const unsigned = `${fold('DKIM-Signature', tags).line}\r\n b=`;
    const signed =
      names.map((n) => `${relaxedHeader(n, byName.get(n)!.line)}\r\n`).join('') +
      relaxedHeader('dkim-signature', unsigned);
    const b = sign('sha256', Buffer.from(signed), this.key).toString('base64');
    // The signature folded in lines of at most 76 characters (the b= value's white space is ignored by verifiers).
    const first = 76 - 3;
    const parts = [b.slice(0, first), ...(b.slice(first).match(/.{1,75}/g) ?? [])];
    return { name: 'DKIM-Signature', line: unsigned + parts.join('\r\n ') };
  }
}
