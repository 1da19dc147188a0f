/**
 * Why a delivery failed, from the enhanced status code (RFC 3463) first and the diagnostic text
 * second. Shared by the report classifier and the provider webhooks, so a bounce is categorised the
 * same way whichever relay reported it.
 */
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
  return detail === '0' || subject === '5' || subject === '6' || (subject === '1' && detail === '0') || (subject === '4' && detail === '1');
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
    /over ?quota|quota (exceeded|exceed|full)|exceed(s|ed)? (his|her|their|the|its)? ?(storage|quota|mailbox)|(mailbox|mail ?box|inbox|mailfolder|account|disk|storage)( is| was)? (full|over)|insufficient (disk|storage)|out of (storage|disk)|not enough (disk )?space|mailbox size limit|user's disk quota|ist voll|boîte (aux lettres )?(est )?pleine|casella( di posta)? piena|buzón (está )?lleno|переполнен/i,
  ],
  [
    'message_too_large',
    /message (size|length) (exceeds|is too|limit)|size (limit|exceeds)|too (large|big)|exceeds (the )?(fixed |local )?maximum (allowed )?(message )?size|maximum message size|message too big/i,
  ],
  [
    'domain_not_found',
    /host or domain name not found|domain (name )?not found|nxdomain|no such domain|unrouteable (mail )?domain|no mx (record|for)|(domain|host)( name)? (does not|doesn't) exist|name service error|dns error|unknown host|host unknown|unable to find mx|domain .{0,80}couldn't be found|nonexistent domain|domain (is )?invalid|domaine introuvable/i,
  ],
  [
    'unknown_user',
    /user (is )?unknown|unknown (user|recipient|address|mailbox)|no such (user|mailbox|recipient|address|person|account)|(user|mailbox|recipient|address|account|addressee)( name)? (does not|doesn't|did not|no longer) exists?|(recipient|address|user|mailbox|account) (not found|invalid)|invalid (recipient|mailbox|address|user)|mailbox (unavailable|not found|does not exist)|not a valid (mailbox|recipient|user|address)|unrouteable address|no mailbox here|not listed in (the )?(domino )?directory|(account|mailbox) (has been |is )?(disabled|inactive|deactivated|closed|suspended|expired|discontinued)|addressee unknown|bad destination mailbox|(doesn't|does not) have an? .{0,40}account|recipnotfound|recipientnotfound|undeliverable address|inactive user|utilisateur inconnu|adresse (e-?mail )?introuvable|benutzer unbekannt|empfänger unbekannt|usuario desconocido|destinatario (sconosciuto|inesistente)|не существует|нет такого/i,
  ],
  [
    'network',
    /connection (timed out|refused|reset|lost|closed)|timed out|timeout|no route to host|network is unreachable|(could not|unable to|cannot|can't) connect|lost connection|host (is )?not responding|retry timeout exceeded|delivery temporarily suspended|message expired|queue\.expired|expired in queue|no answer from host/i,
  ],
  [
    'policy_or_spam_block',
    /spam|junk|block(ed|list)|blacklist|black list|deny ?list|listed (at|on|in|by)|\brbl\b|dnsbl|spamhaus|spamcop|barracuda|reputation|policy|not authori[sz]ed|unauthori[sz]ed|relay(ing)? (access )?(denied|not permitted|prohibited)|access denied|refused|dmarc|\bspf\b|dkim|content (rejected|filter)|virus|malware|unsolicited|bulk mail|banned|prohibited|suspicious|authentication (required|failed)|sender (address )?(rejected|denied)|rate limit|too many (messages|connections|recipients)|throttl|greylist|graylist/i,
  ],
];

/** The first category whose phrases the text contains, or null. */
export function categoryFromText(text: string | null | undefined): BounceCategory | null {
  if (!text) return null;
  // Office 365's directory-based edge blocking says "5.4.1 ... Access denied" for a mailbox it does not have.
  if (/5\.4\.1\b.{0,40}recipient address rejected: access denied/i.test(text)) return 'unknown_user';
  for (const [category, re] of TEXT_RULES) if (re.test(text)) return category;
  return null;
}

export interface Categorised {
  category: BounceCategory;
  source: CategorySource;
  status: string | null;
}

/**
 * The category of a failure from its status (any d.d.d, else one found in the diagnostic) and its
 * diagnostic text. A specific code decides; a generic one (x.0.0, x.5.x, x.6.x, 5.1.0, x.4.1) lets the
 * text decide and is used only when the text says nothing.
 */
export function categorise(status: string | null | undefined, diagnostic: string | null | undefined): Categorised {
  let code = normaliseStatus(status);
  const fromText = enhancedStatusIn(diagnostic);
  if (fromText && (!code || (isGeneric(...sd(code)) && !isGeneric(...sd(fromText))))) code = fromText;
  if (code) {
    const [, subject, detail] = code.split('.') as [string, string, string];
    if (code === '5.4.1' && /recipient address rejected: access denied/i.test(diagnostic ?? '')) {
      return { category: 'unknown_user', source: 'diagnostic', status: code };
    }
    const text = isGeneric(subject, detail) ? categoryFromText(diagnostic) : null;
    if (text) return { category: text, source: 'diagnostic', status: code };
    return { category: byStatus(code), source: 'status', status: code };
  }
  const text = categoryFromText(diagnostic);
  return text ? { category: text, source: 'diagnostic', status: null } : { category: 'other', source: 'default', status: null };
}

function sd(code: string): [string, string] {
  const [, subject, detail] = code.split('.') as [string, string, string];
  return [subject, detail];
}

/**
 * Should further mail to the address stop? A complaint: yes. A bounce: only a permanent failure whose
 * reason is about the address (unknown user, no such domain, or a permanent failure that names no
 * reason, as SES counts it); not a full mailbox (it may be emptied), not a block of our mail or of its
 * size, not a network failure: the address is fine and a later message may get through.
 */
export function suppressesAddress(kind: ReportKind, category: BounceCategory | null): boolean {
  if (kind === 'complaint') return true;
  return kind === 'hard_bounce' && (category === 'unknown_user' || category === 'domain_not_found' || category === 'other');
}

/** The class of a failure: 5 permanent, 4 temporary, 2 success; from the status, else the diagnostic. */
export function statusClass(status: string | null, diagnostic: string | null): '2' | '4' | '5' | null {
  const code = normaliseStatus(status) ?? enhancedStatusIn(diagnostic) ?? basicCodeIn(diagnostic);
  const c = code?.[0];
  return c === '2' || c === '4' || c === '5' ? c : null;
}
