/**
 * Why a delivery failed, from the enhanced status code (RFC 3463) first and the diagnostic text
 * second. Shared by the report classifier and the provider webhooks, so a bounce is categorised the
 * same way whichever relay reported it.
 */
import { anyOf } from './phrases.js';
import type { BounceCategory, CategorySource, ReportKind } from './types.js';

// A code standing alone: not part of an IP address, a version number or a longer dotted run.
const ENHANCED = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)/;
const BASIC = /(?<![\d.#-])([245]\d\d)(?:[ -]|$)/;

/** The first enhanced status code in a text (e.g. "#550 5.1.1 ...", "(#5.2.2)", "smtp;554 5.7.1"). */
export function enhancedStatusIn(text: string | null | undefined): string | null {
  if (!text) return null;
  const m = ENHANCED.exec(text);
  return m ? `${m[1]}.${m[2]}.${m[3]}` : null;
}

const ENHANCED_ALL = new RegExp(ENHANCED.source, 'g');

/** The most telling code in a text: the first specific one, else the first. */
function bestStatusIn(text: string | null | undefined): string | null {
  if (!text) return null;
  let first: string | null = null;
  ENHANCED_ALL.lastIndex = 0;
  for (let m = ENHANCED_ALL.exec(text), n = 0; m && n < 8; m = ENHANCED_ALL.exec(text), n++) {
    const code = `${m[1]}.${m[2]}.${m[3]}`;
    if (!isGeneric(m[2]!, m[3]!)) return code;
    first ??= code;
  }
  return first;
}

/** The first SMTP reply code (550, 452, ...) in a text. */
export function basicCodeIn(text: string | null | undefined): string | null {
  if (!text) return null;
  return BASIC.exec(text)?.[1] ?? null;
}

/** A Status field normalised to d.d.d, or null when it is not one. */
export function normaliseStatus(s: string | null | undefined): string | null {
  if (!s) return null;
  const m = /^\s*([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(s);
  return m ? `${m[1]}.${m[2]}.${m[3]}` : null;
}

/** Codes that say little by themselves: the diagnostic text decides, the code only as a last resort. */
function isGeneric(subject: string, detail: string): boolean {
  return (
    detail === '0' ||
    subject === '5' ||
    subject === '6' ||
    (subject === '1' && detail === '0') ||
    (subject === '4' && detail === '1')
  );
}

function byStatus(status: string): BounceCategory {
  const [cls, subject, detail] = status.split('.') as [string, string, string];
  const sd = `${subject}.${detail}`;
  switch (subject) {
    case '1':
      if (sd === '1.2') return 'domain_not_found';
      if (sd === '1.7' || sd === '1.8') return 'policy_or_spam_block'; // our sender address refused
      if (sd === '1.4') return 'other';
      return 'unknown_user'; // 1.0, 1.1, 1.3, 1.5, 1.6, 1.10
    case '2':
      if (sd === '2.2') return 'mailbox_full';
      if (sd === '2.3') return 'message_too_large';
      if (sd === '2.1') return cls === '5' ? 'unknown_user' : 'other'; // 5.2.1 disabled mailbox; 4.2.1 rate limited
      return 'other';
    case '3':
      return sd === '3.4' ? 'message_too_large' : 'other';
    case '4':
      return sd === '4.4' ? 'domain_not_found' : 'network';
    case '7':
      return 'policy_or_spam_block';
    default:
      return 'other';
  }
}

const TEXT_RULES: Array<[BounceCategory, RegExp]> = [
  [
    'mailbox_full',
    anyOf([
      'over ?quota',
      'quota (exceeded|exceed|full)',
      'mailbox exceeds',
      'exceed(s|ed)? (his|her|their|the|its)? ?(storage|quota|mailbox)',
      '(mailbox|mail ?box|inbox|mailfolder|account|disk|storage)( is| was)? (full|over)',
      'insufficient (disk|storage)',
      'out of (storage|disk)',
      'storage space',
      'not enough (disk )?space',
      'mailbox size limit',
      "user's disk quota",
      'ist voll',
      'boîte (aux lettres )?(est )?pleine',
      'casella( di posta)? piena',
      'buzón (está )?lleno',
      'переполнен',
    ]),
  ],
  [
    'message_too_large',
    anyOf([
      'message (size|length) (exceeds|is too|limit)',
      'size (limit|exceeds)',
      'too (large|big)',
      'exceeds (the )?(fixed |local )?maximum (allowed )?(message )?size',
      'maximum message size',
      'message too big',
      'size limits',
    ]),
  ],
  [
    'domain_not_found',
    anyOf([
      'host or domain name not found',
      'domain (name )?not found',
      'nxdomain',
      'no such domain',
      'unrouteable (mail )?domain',
      'no mx (record|for)',
      "(domain|host)( name)? (does not|doesn't) exist",
      'name service error',
      'dns error',
      'unknown host',
      'host unknown',
      'unable to find mx',
      "domain .{0,80}(couldn't|could not) be found",
      'domain is not reachable',
      'nonexistent domain',
      'domain (is )?invalid',
      'domaine introuvable',
      'unrouteable address',
      'no route (found )?to domain',
      'no mail servers? (appears? to )?exists?',
      'could not find a gateway',
      'no smtp service',
      'null mx',
      'does not accept mail',
    ]),
  ],
  [
    'unknown_user',
    anyOf([
      'user (is )?unknown',
      'unknown (user|recipient|address|mailbox)',
      'no such (user|mailbox|recipient|address|person|account)',
      "(user|mailbox|recipient|address|account|addressee)( name)? (does not|doesn't|did not|no longer|not) exists?",
      'recipient name is not recognized',
      'invalid (final delivery )?userid',
      '(account|address|mailbox) (that )?you tried to reach (does not exist|is disabled)',
      '(recipient|address|user|mailbox|account) (not found|invalid)',
      'invalid (recipient|mailbox|address|user)',
      'mailbox (unavailable|not found|does not exist)',
      'not a valid (mailbox|recipient|user|address)',
      "(e-?mail )?(address|account) .{0,40}(couldn't|could not|can't|cannot) be found",
      'no mailbox here',
      'not listed in (the )?(domino )?directory',
      '(account|mailbox) (has been |is )?(disabled|inactive|deactivated|closed|suspended|expired|discontinued)',
      'addressee unknown',
      'bad destination mailbox',
      "(doesn't|does not) have an? .{0,40}account",
      'recipnotfound',
      'recipientnotfound',
      'undeliverable address',
      'inactive user',
      'not a registered (gateway )?user',
      'utilisateur inconnu',
      'adresse (e-?mail )?introuvable',
      'benutzer unbekannt',
      'empfänger unbekannt',
      'usuario desconocido',
      'destinatario (sconosciuto|inesistente)',
      'не существует',
      'нет такого',
    ]),
  ],
  [
    'network',
    anyOf([
      'connection (timed out|refused|reset|lost|closed)',
      'timed out',
      'timeout',
      'no route to host',
      'network is unreachable',
      "(could not|unable to|cannot|can't) connect",
      'lost connection',
      'host (is )?not responding',
      'retry timeout exceeded',
      'delivery temporarily suspended',
      '(message|envelope|delivery time) expired',
      'queue\\.expired',
      'expired in queue',
      'too long in (the )?queue',
      'no answer from host',
      'after multiple retries',
      'retries exceeded',
      "(not|did not|didn't) accept our requests to connect",
      'failed \\d+ attempts',
      'been failing for a long time',
      '(host|server|destination) (is )?not reachable',
      'unreachable',
      'network error',
      'hop count exceeded',
      'routing loop',
      'mail loop',
    ]),
  ],
  [
    'policy_or_spam_block',
    anyOf([
      'spam',
      'junk',
      'block(ed|list)',
      'blacklist',
      'black list',
      'deny ?list',
      'listed (at|on|in|by)',
      '\\brbl\\b',
      'dnsbl',
      'spamhaus',
      'spamcop',
      'barracuda',
      'reputation',
      'policy',
      'not authori[sz]ed',
      'unauthori[sz]ed',
      'relay(ing)? (access )?(denied|not permitted|prohibited)',
      'insecure mail relay',
      'access denied',
      'refused',
      'dmarc',
      '\\bspf\\b',
      'dkim',
      'content (rejected|filter)',
      'virus',
      'malware',
      'unsolicited',
      'bulk mail',
      'banned',
      'prohibited',
      'suspicious',
      'authentication (required|failed)',
      'unauthenticated',
      'not allowed',
      'sender (address )?(rejected|denied)',
      'client host rejected',
      'rate limit',
      'at a rate that',
      'too many (messages|connections|recipients)',
      'throttl',
      'greylist',
      'graylist',
      'reverse (dns|lookup)',
      '\\bptr\\b',
      'ip name lookup failed',
      'mismatches client ip',
      'not verified',
      'invalid ip',
    ]),
  ],
];

/** Every category whose phrases the text contains, most specific rule first. */
export function categoriesFromText(text: string | null | undefined): BounceCategory[] {
  if (!text) return [];
  // Office 365's directory-based edge blocking says "5.4.1 ... Access denied" for a mailbox it does not have.
  if (/5\.4\.1\b.{0,40}recipient address rejected: access denied/i.test(text)) return ['unknown_user'];
  // "refused to talk to me" is a server turning us away at connection time: a block, not a network fault.
  if (/refused to talk to me/i.test(text)) return ['policy_or_spam_block'];
  // DNS failures that will pass (Postfix writes them under 5.4.4 too): the domain may well exist.
  if (
    /host not found, try again|malformed or unexpected name server reply|servfail|name server (timeout|failure)|temporary (dns|name resolution) failure/i.test(
      text,
    )
  ) {
    return ['network'];
  }
  const out: BounceCategory[] = [];
  for (const [category, re] of TEXT_RULES) if (!out.includes(category) && re.test(text)) out.push(category);
  return out;
}

/** The first category whose phrases the text contains, or null. */
export function categoryFromText(text: string | null | undefined): BounceCategory | null {
  return categoriesFromText(text)[0] ?? null;
}

export interface Categorised {
  category: BounceCategory;
  source: CategorySource;
  status: string | null;
}

/**
 * The category of a failure from its status code and its diagnostic text.
 * - A refusal after MAIL FROM is about our sender: a policy block, never the recipient's address.
 * - The code in the remote server's own reply (in the diagnostic) is preferred to the reporting
 *   MTA's Status field, which is a summary (Exim always writes 5.0.0; Sendmail maps 550 to 5.1.1).
 * - A specific code decides when the text agrees with it or says nothing. A generic code (x.0.0,
 *   x.5.x, x.6.x, 5.1.0, x.4.1) lets the text decide.
 * - When the text names a different reason than a specific code (GoDaddy's "5.1.1 ... sent to too
 *   many recipients", Yandex's "5.7.1 No such user!"), the words win: servers misuse codes far more
 *   than they misuse words, and a wrong "unknown user" would suppress a working address.
 */
export function categorise(status: string | null | undefined, diagnostic: string | null | undefined): Categorised {
  const field = normaliseStatus(status);
  const reply = bestStatusIn(diagnostic);
  // Refused at MAIL FROM: the server turned down our sender, whatever the code says of the recipient.
  // (Except a size refusal: MAIL FROM carries SIZE=.)
  if (diagnostic && /(after|in reply to) mail from\b/i.test(diagnostic)) {
    const sized = categoriesFromText(diagnostic).includes('message_too_large') || (reply ?? field)?.endsWith('.3.4');
    return {
      category: sized ? 'message_too_large' : 'policy_or_spam_block',
      source: 'diagnostic',
      status: reply ?? field,
    };
  }
  const specific = (c: string | null) => (c && !isGeneric(...sd(c)) ? c : null);
  const code = specific(reply) ?? specific(field) ?? reply ?? field;
  const texts = categoriesFromText(diagnostic);
  if (!code)
    return texts[0]
      ? { category: texts[0], source: 'diagnostic', status: null }
      : { category: 'other', source: 'default', status: null };
  const byCode = byStatus(code);
  if (texts.length === 0 || (!isGeneric(...sd(code)) && texts.includes(byCode)))
    return { category: byCode, source: 'status', status: code };
  return { category: texts[0]!, source: 'diagnostic', status: code };
}

function sd(code: string): [string, string] {
  const [, subject, detail] = code.split('.') as [string, string, string];
  return [subject, detail];
}

/**
 * Should further mail to the address stop? A complaint or an unsubscribe: yes. A bounce: only a
 * permanent failure whose reason is about the address (unknown user, no such domain). Not a full
 * mailbox (it may be emptied), a block of our mail or of its size, a network failure, nor a failure
 * that names no reason: on 629 real bounces, most "other" permanent failures were blocks or expiries
 * of a working address, and a wrong suppression silences a customer for good.
 */
export function suppressesAddress(kind: ReportKind, category: BounceCategory | null): boolean {
  if (kind === 'complaint' || kind === 'unsubscribe') return true;
  return kind === 'hard_bounce' && (category === 'unknown_user' || category === 'domain_not_found');
}

/** The class of a failure: 5 permanent, 4 temporary, 2 success; from the status, else the diagnostic. */
export function statusClass(status: string | null, diagnostic: string | null): '2' | '4' | '5' | null {
  const code = normaliseStatus(status) ?? enhancedStatusIn(diagnostic) ?? basicCodeIn(diagnostic);
  const c = code?.[0];
  return c === '2' || c === '4' || c === '5' ? c : null;
}

/**
 * The class of the remote server's own reply quoted in a diagnostic ("smtp; 450 4.1.1 ..."): its
 * SMTP code, else its first enhanced code; null when the text quotes none.
 */
export function replyClassIn(diagnostic: string | null): '2' | '4' | '5' | null {
  const c = (basicCodeIn(diagnostic) ?? enhancedStatusIn(diagnostic))?.[0];
  return c === '2' || c === '4' || c === '5' ? c : null;
}
