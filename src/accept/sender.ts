import { domainToASCII, domainToUnicode } from 'node:url';
import { AppError } from '../platform/errors.js';
import type { Principal } from '../platform/http/auth.js';
import { checkHeaderValue } from '../platform/header-safety.js';
import { isValidAddress, normalizeAddress } from './addresses.js';

export interface ParsedSender {
  email: string;
  /** The display name, or null. */
  name: string | null;
}

const DISPLAY_NAME_MAX = 200;

/**
 * `from` as a caller writes it: "a@b.example" or "Name <a@b.example>" (the name may be quoted).
 * The address follows the recipients' rules; the name is one header line, judged by header-safety.
 */
export function parseSender(input: string, field = 'from'): ParsedSender {
  const value = input.trim();
  const m = /^(.*?)\s*<([^<>]*)>$/s.exec(value);
  const address = (m ? m[2]! : value).trim();
  if (!isValidAddress(address)) {
    throw new AppError('invalid_address', `Invalid email address in ${field}: ${JSON.stringify(address)}`, {
      field,
      invalid: [address],
    });
  }
  let name: string | null = null;
  if (m && m[1]!.trim() !== '') {
    name = m[1]!.trim();
    if (name.length >= 2 && name.startsWith('"') && name.endsWith('"'))
      name = name.slice(1, -1).replace(/\\(.)/g, '$1');
    if (name.length > DISPLAY_NAME_MAX) {
      throw new AppError(
        'validation_failed',
        `${field}: the display name is longer than ${DISPLAY_NAME_MAX} characters`,
        {
          field,
        },
      );
    }
    checkHeaderValue(field, name);
    if (/[\r\n]/.test(name)) {
      throw new AppError('invalid_header_value', `${field}: the display name contains a line break`, { field });
    }
  }
  return { email: normalizeAddress(address), name };
}

/**
 * The same domain: as written, or an internationalized domain in the other of its two spellings
 * (an entry is ASCII, so `xn--bcher-kva.de`; a From may say `bücher.de`). Only those two: a
 * spelling UTS #46 merely maps onto it (fullwidth letters, say) is not the domain's own.
 */
function sameDomain(entry: string, domain: string): boolean {
  if (entry === domain) return true;
  const ascii = domainToASCII(domain);
  return ascii !== '' && ascii === domainToASCII(entry) && (domain === ascii || domain === domainToUnicode(ascii));
}

/** An allow-list entry matches an address when it is that address or its domain (both compared in lower case). */
function matches(entries: readonly string[], address: string): boolean {
  const lower = address.toLowerCase();
  const at = lower.lastIndexOf('@');
  const local = lower.slice(0, at);
  const domain = lower.slice(at + 1);
  return entries.some((e) => {
    const i = e.lastIndexOf('@');
    return i === -1 ? sameDomain(e, domain) : e.slice(0, i) === local && sameDomain(e.slice(i + 1), domain);
  });
}

/**
 * Who may send as whom: the address must match FROM_ALLOWED_DOMAINS (which always holds
 * SMTP_FROM_EMAIL's domain) and, when the key has its own list, that list too. The configured
 * sender itself is always allowed: it is what every message without a `from` uses.
 * Throws 403 from_not_allowed naming the address.
 */
export function checkSenderAllowed(
  address: string,
  principal: Pick<Principal, 'allowedFrom'> | null,
  global: readonly string[],
  configuredSender: string,
): void {
  if (address.toLowerCase() === configuredSender.toLowerCase()) return;
  const own = principal?.allowedFrom ?? null;
  const ok = matches(global, address) && (own === null || matches(own, address));
  if (ok) return;
  throw new AppError(
    'from_not_allowed',
    own === null
      ? `This installation may not send as ${address} (FROM_ALLOWED_DOMAINS)`
      : `This API key may not send as ${address}`,
    { from: address, ...(own !== null ? { allowed_from: own } : {}) },
  );
}

/** A key's allowed_from list as given (API, CLI): each a domain or an address, stored in lower case. */
export function parseAllowedFrom(entries: readonly string[], field = 'allowed_from'): string[] {
  const out: string[] = [];
  for (const raw of entries) {
    const e = raw.trim().toLowerCase();
    const ok = e.includes('@') ? isValidAddress(e) : /^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(e) && e.length <= 253;
    if (!ok) {
      throw new AppError(
        'validation_failed',
        `${field}: ${JSON.stringify(raw)} is neither a domain nor an email address`,
        {
          field,
          value: raw,
        },
      );
    }
    if (!out.includes(e)) out.push(e);
  }
  return out;
}
