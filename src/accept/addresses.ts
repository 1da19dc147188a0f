import validator from 'validator';
import { AppError } from '../platform/errors.js';
import { hasEncodedWord } from '../platform/header-safety.js';

/**
 * Recipients: a comma-separated string or an array of plain addresses ("a@b.c"). Anything
 * that could smuggle a header (CR, LF, NUL, angle brackets, display names) is refused.
 */
export function parseRecipients(input: string | string[] | undefined, field: string, max: number): string[] {
  if (input === undefined) return [];
  // Spaces and tabs around an address are forgiven; CR, LF and other controls are refused below.
  const parts = (Array.isArray(input) ? input : input.split(','))
    .map((s) => (typeof s === 'string' ? s.replace(/^[ \t]+|[ \t]+$/g, '') : s))
    .filter((s) => s !== '');
  const invalid = parts.filter((a) => !isValidAddress(a));
  if (invalid.length > 0) {
    throw new AppError(
      'invalid_address',
      `Invalid email address in ${field}: ${invalid.map((a) => JSON.stringify(a)).join(', ')}`,
      {
        field,
        invalid,
      },
    );
  }
  if (parts.length > max) {
    throw new AppError('too_many_recipients', `${field}: at most ${max} recipients per request`, {
      field,
      max,
      given: parts.length,
    });
  }
  // One message per distinct address, in the caller's order.
  const seen = new Set<string>();
  return parts.filter((a) => {
    const k = a.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Controls, invisible and bidirectional characters: never part of an address we send to. */
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff<>"]/;

/**
 * The verdicts of the last few thousand distinct addresses: the same senders and recipients come
 * back all day, and validator's isEmail (its options merged on every call) was 3.5 % of the SMTP
 * listener's thread in bench:submission. Emptied when full, so it never grows past its size.
 */
const verdicts = new Map<string, boolean>();
const VERDICTS_MAX = 4096;

export function isValidAddress(a: unknown): a is string {
  if (typeof a !== 'string' || a.length > 254) return false;
  const known = verdicts.get(a);
  if (known !== undefined) return known;
  const valid = judgeAddress(a);
  if (verdicts.size >= VERDICTS_MAX) verdicts.clear();
  verdicts.set(a, valid);
  return valid;
}

function judgeAddress(a: string): boolean {
  return (
    a.isWellFormed() &&
    !FORBIDDEN.test(a) &&
    // "=?utf-8?Q?=0D=0A?=" is a valid local part, and Python's parser decodes it: no quoting prevents that.
    !hasEncodedWord(a) &&
    validator.isEmail(a, {
      allow_display_name: false,
      require_tld: true,
      allow_ip_domain: false,
      allow_utf8_local_part: false,
    })
  );
}

/** Stored form: the domain is case-insensitive, the local part is kept as given. */
export function normalizeAddress(a: string): string {
  const at = a.lastIndexOf('@');
  return `${a.slice(0, at)}@${a.slice(at + 1).toLowerCase()}`;
}
