/** Reading addresses and Message-IDs out of headers and free text. */
import { anyOf } from './phrases.js';

// Letters beyond ASCII are allowed (SMTPUTF8, RFC 6531): regexes built from EMAIL_SOURCE need the u flag.
const LOCAL = "[\\p{L}\\p{N}.!#$%&'*+/=?^_`{|}~-]+";
const DOMAIN = '(?:[\\p{L}\\p{N}](?:[\\p{L}\\p{N}-]{0,61}[\\p{L}\\p{N}])?\\.)+[\\p{L}\\p{N}-]{2,63}';
/** An address, for building larger patterns (with the u flag). */
export const EMAIL_SOURCE = `${LOCAL}@${DOMAIN}`;
const EMAIL = new RegExp(`^${EMAIL_SOURCE}$`, 'u');
const EMAIL_IN_TEXT = new RegExp(`(?<![\\p{L}\\p{N}.!#$%&'*+/=?^_\`{|}~-])${EMAIL_SOURCE}`, 'gu');

export const isEmail = (s: string): boolean => s.length <= 320 && EMAIL.test(s);

/** The address in "Name <a@b>", "<a@b>", "a@b (Name)", "rfc822; a@b" or "a@b<mailto:a@b>", lowercased; null if none. */
export function extractAddress(value: string | null | undefined): string | null {
  if (!value) return null;
  const v = value.replace(/^\s*(rfc822|utf-8|x400|unknown)\s*;\s*/i, '').trim();
  const angle = /<\s*(?:mailto:)?([^<>\s]+@[^<>\s]+?)\s*>/.exec(v);
  const candidate = angle?.[1] ?? emailsIn(v, 1)[0];
  if (!candidate) return null;
  const a = candidate
    .replace(/^mailto:/i, '')
    .replace(/[.,;:]+$/, '')
    .toLowerCase();
  return isEmail(a) ? a : null;
}

/** Every address in a header value (To: a, b, "C" <c>), lowercased, in order, without repeats. */
export function extractAddresses(value: string | null | undefined): string[] {
  return value ? emailsIn(value) : [];
}

/** Every address in free text, lowercased, in order of appearance, without repeats. */
export function emailsIn(text: string, max = 50): string[] {
  const out: string[] = [];
  EMAIL_IN_TEXT.lastIndex = 0;
  for (let m = EMAIL_IN_TEXT.exec(text); m && out.length < max; m = EMAIL_IN_TEXT.exec(text)) {
    const a = m[0].replace(/\.+$/, '').toLowerCase();
    if (!out.includes(a)) out.push(a);
  }
  return out;
}

/** The Message-IDs in a header value (In-Reply-To, References, Message-ID), with their angle brackets. */
export function messageIdsIn(value: string | null | undefined): string[] {
  if (!value) return [];
  const ids = value.match(/<[^<>\s]+@[^<>\s]+>/g);
  if (ids) return ids;
  // Some MTAs (Mailgun's events, a few DSNs) give the id without brackets.
  const bare = value.trim();
  return /^[^<>\s@]+@[^<>\s@]+$/.test(bare) ? [`<${bare}>`] : [];
}

const DAEMON_LOCAL =
  /^(mailer[-_.]?daemon|mail[-_.]?daemon|postmaster|mail[-_.]?delivery[-_.]?(system|subsystem)?|mdaemon|double-bounce|microsoftexchange[0-9a-f]*)$/i;
const DAEMON_NAME = anyOf(
  [
    'mail delivery (system|subsystem|service)',
    'mail administrator',
    'system administrator',
    'postmaster',
    'mailer[- ]daemon',
    'microsoft outlook',
    'mail delivery',
    'internet mail delivery',
    'mdaemon',
  ].map((n) => `^${n}$`),
);

/** Does this From look like a mail system rather than a person? */
export function isDaemonSender(from: string | null): boolean {
  if (!from) return false;
  // Courier writes "Courier mail server at host" <@>; others leave the address empty.
  if (/<@?>/.test(from)) return true;
  const addr = extractAddress(from);
  if (addr && DAEMON_LOCAL.test(addr.slice(0, addr.indexOf('@')))) return true;
  if (!addr && /mailer-daemon|postmaster/i.test(from)) return true;
  const name = from
    .replace(/<[^>]*>/, '')
    .replace(/["']/g, '')
    .trim();
  return name !== '' && DAEMON_NAME.test(name);
}
