/**
 * Bounces without a delivery-status part, as real servers still send them: Postfix, Exim, qmail,
 * Sendmail, Exchange, Gmail, Yahoo, Domino, Courier, hMailServer, SmarterMail, GroupWise, MDaemon.
 * Each family is recognised by its fixed sentences; the failed recipients and their diagnostics are
 * read from the layout that family uses, with generic fallbacks.
 */
import { EMAIL_SOURCE, emailsIn, extractAddress } from './addresses.js';
import { anyOf } from './phrases.js';
import type { ReportFormat } from './types.js';

export interface PlainEntry {
  recipient: string;
  diagnostic: string | null;
}

export interface PlainBounce {
  format: ReportFormat;
  entries: PlainEntry[];
  /** A warning: the MTA is still trying. */
  delayed: boolean;
  /** The text says the failure is permanent (true), temporary (false), or nothing (null). */
  permanent: boolean | null;
  reportingMta: string | null;
  /** The signature that recognised the family, for the evidence list. */
  signature: string;
}

const FAMILIES: Array<[ReportFormat, RegExp]> = [
  [
    'qmail',
    /this is the qmail-send program at|i'm afraid i wasn't able to deliver your message to the following addresses/i,
  ],
  ['yahoo', /sorry, we were unable to deliver your message to the following address/i],
  [
    'postfix',
    /this is the (mail system|postfix program) at host|i'm sorry to have to inform you that your message could not\s+be delivered/i,
  ],
  ['hmailserver', /hmailserver/i],
  ['courier', /running the courier mail server|^[ \t]*(UNDELIVERABLE|DELAYED) MAIL[ \t]*\r?$/m],
  ['exim', /this message was created automatically by mail delivery software/i],
  [
    'sendmail',
    /-{3,} the following addresses had (permanent fatal|transient non-fatal) errors|the original message was received at .{0,120}\n\s*from /i,
  ],
  ['mdaemon', /had PERMANENT fatal delivery errors|session transcript ---/i],
  ['smartermail', /failed to deliver to '|smtp module\(domain/i],
  ['groupwise', /the message that you sent was undeliverable to the following/i],
  ['domino', /was not delivered to:\s*\n[\s\S]{0,400}?because:/i],
  [
    'gmail',
    anyOf([
      'delivery to the following recipients? (failed permanently|has been delayed)',
      'technical details of (permanent|temporary) failure',
      '\\*\\* (address not found|message not delivered( yet)?|message blocked|delivery incomplete) \\*\\*',
    ]),
  ],
  [
    'exchange',
    anyOf([
      'delivery has failed to these recipients or groups',
      'did not reach the following recipient\\(s\\)',
      'your message did not reach some or all of the intended recipients',
      'the following recipient\\(s\\) (could not|cannot) be reached',
      "la remise n'a pas abouti",
      'fehler bei der nachrichtenzustellung',
      'no se pudo entregar a estos destinatarios',
      'impossibile recapitare',
      "remote server returned '",
      'diagnostic information for administrators',
    ]),
  ],
];

/** Sentences that say "this did not arrive", from families we do not know by name. */
const GENERIC = anyOf([
  'could not be delivered',
  "couldn't be delivered",
  'cannot be delivered',
  "can't be delivered",
  'was not delivered',
  "wasn't delivered",
  'undeliverable',
  'delivery (has |to the following recipients? )?failed',
  'failed to deliver',
  'permanent (fatal )?error',
  'unable to deliver',
  'mail delivery failed',
  'returned mail',
  'not be delivered',
  'non remis',
  'unzustellbar',
  'nicht zugestellt',
  'no se puede entregar',
  'non recapitabile',
  'onbestelbaar',
  'non distribuibile',
  "n'a pas pu être (remis|délivré)",
  'не доставлено',
  'недоставленное',
  'could not deliver',
  'delivery failure',
  'error (has )?occurred while (trying|attempting) to deliver',
  'failure notice',
  'delivery status notification',
  '(could not|cannot|unable to) send (the |your )?(message|mail)',
  'failed addresses',
  'permanent delivery errors',
  'delivery (was )?aborted',
  'message not delivered',
]);

const DELAY = anyOf([
  'has not yet been delivered',
  'not (been )?delivered yet',
  'still undelivered',
  'will (keep|continue) trying',
  'will be retried',
  'delivery attempts will continue',
  'still being retried',
  'this is a warning (message )?only',
  'warning message only',
  'do not need to resend your message',
  'delay reason',
  'transient non-fatal errors',
  'technical details of temporary failure',
  'has been delayed',
  '\\*\\* (message not delivered yet|delivery incomplete) \\*\\*',
  'delayed mail',
]);
const DELAY_SUBJECT = /\b(delay(ed)?|warning|still being retried|verzögert|retardé|retrasad[oa]|en attente)\b/i;
const PERMANENT =
  /this is a permanent error|permanent (fatal )?error|failed permanently|i've given up|giving up on|permanent failure|permanently|had permanent fatal/i;

/** Where a returned copy of the original message starts in a plain-text bounce. */
const RETURNED = anyOf(
  [
    // A line of dashes with words: "------ This is a copy of the message, including all the headers. ------".
    '^[ \\t]*-{2,}[ \\t]*(this is a copy of (the|your) message|below this line is a copy of the message|(original|unsent|returned|undelivered) message|' +
      'the header of the original message|forwarded message|message header follows)[^\\n]*$',
    // The words alone on their line: "Original message headers:".
    '^[ \\t]*(original message headers|the original message headers are|below is a copy of the original message|original message follows)[ \\t]*:?[ \\t]*$',
  ],
  'im',
);

/** Splits a plain notification into the report proper and the returned message (if any). */
export function splitReturned(text: string): { notice: string; returned: string | null } {
  const m = RETURNED.exec(text);
  if (!m) return { notice: text, returned: null };
  return { notice: text.slice(0, m.index), returned: text.slice(m.index + m[0].length) };
}

const MAX_ENTRIES = 100;

const collapse = (s: string, max = 500): string | null => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t === '' ? null : t.length > max ? `${t.slice(0, max)}…` : t;
};

const lines = (s: string): string[] => s.split(/\r?\n/);

/** "<a@b>: text" entries (qmail, Yahoo, Postfix, Courier): continuation lines run to a blank line or the next entry. */
function angleColonEntries(notice: string): PlainEntry[] {
  const out: PlainEntry[] = [];
  const start = new RegExp(
    `^\\s{0,2}(?:<(${EMAIL_SOURCE})>|"?(${EMAIL_SOURCE})"?)(?:\\s*\\(expanded from[^)]*\\))?:(?:\\s+(.*))?$`,
    'u',
  );
  let cur: { recipient: string; text: string[] } | null = null;
  const flush = () => {
    if (cur) out.push({ recipient: cur.recipient.toLowerCase(), diagnostic: collapse(cur.text.join(' ')) });
    cur = null;
  };
  for (const line of lines(notice)) {
    const m = start.exec(line);
    if (m) {
      flush();
      cur = { recipient: (m[1] ?? m[2])!, text: [m[3] ?? ''] };
    } else if (cur) {
      if (line.trim() === '' && cur.text.join('').trim() !== '') flush();
      else if (/^\s*-{3,}/.test(line)) flush();
      else cur.text.push(line);
    }
  }
  flush();
  return out;
}

// The words may wrap: "The following address(es)\nfailed:".
const EXIM_HEAD = anyOf([
  'following\\s+address(?:\\(es\\)|es)?\\s+(?:failed|(?:has|have)\\s+not\\s+yet\\s+been\\s+delivered)[ \\t]*:?[ \\t]*\\r?\\n',
  'address\\s+to\\s+which\\s+the\\s+message\\s+has\\s+not\\s+yet\\s+been\\s+delivered\\s+is[ \\t]*:?[ \\t]*\\r?\\n',
]);

/**
 * Exim's "The following address(es) failed:" list: an address line, then its diagnostic lines
 * (indented by Exim, flush left by some of its derivatives), entries separated by blank lines.
 */
function eximEntries(notice: string): PlainEntry[] {
  const m = EXIM_HEAD.exec(notice);
  if (!m) return [];
  const out: PlainEntry[] = [];
  const entry = new RegExp(`^\\s{0,4}["<]?(${EMAIL_SOURCE})[">]?:?[,\\s]*(.*)$`, 'u');
  let cur: { recipient: string; text: string[] } | null = null;
  const flush = () => {
    if (cur) out.push({ recipient: cur.recipient, diagnostic: collapse(cur.text.join(' ')) });
    cur = null;
  };
  let blank = false;
  for (const line of lines(notice.slice(m.index + m[0].length))) {
    if (line.trim() === '') {
      blank = true;
      continue;
    }
    const e = /^\s{5,}/.test(line) ? null : entry.exec(line);
    if (e) {
      flush();
      cur = { recipient: e[1]!.toLowerCase(), text: [e[2]!] };
    } else if (cur && (!blank || /^\s{3,}\S/.test(line))) cur.text.push(line);
    else if (out.length > 0 || cur) break;
    blank = false;
  }
  flush();
  return out;
}

/** Sendmail: addresses under "The following addresses had ... errors", reasons in "(reason: ...)" or the transcript. */
function sendmailEntries(notice: string): PlainEntry[] {
  const out: PlainEntry[] = [];
  const head =
    /-{3,} the following addresses had (?:permanent fatal|transient non-fatal) errors -{3,}[ \t]*\r?\n([\s\S]*?)(?:\n[ \t]*-{3,}|$)/i.exec(
      notice,
    );
  if (head) {
    let cur: PlainEntry | null = null;
    for (const line of lines(head[1]!)) {
      const addr = new RegExp(`^\\s*<?(${EMAIL_SOURCE})>?\\s*$`, 'u').exec(line);
      if (addr) {
        if (cur) out.push(cur);
        cur = { recipient: addr[1]!.toLowerCase(), diagnostic: null };
        continue;
      }
      const reason = /\(reason:\s*(.+?)\)?\s*$/i.exec(line);
      if (cur && reason) cur.diagnostic = collapse(reason[1]!);
    }
    if (cur) out.push(cur);
  }
  // The transcript's last reply to each recipient: "550 5.1.1 <a@b>... User unknown".
  const re = new RegExp(
    `^(?:<<<\\s*)?([45]\\d\\d[ -](?:[245]\\.\\d{1,3}\\.\\d{1,3} )?)?<?(${EMAIL_SOURCE})>?\\.\\.\\.\\s*(.+)$`,
    'gimu',
  );
  for (let m = re.exec(notice); m; m = re.exec(notice)) {
    const recipient = m[2]!.toLowerCase();
    const diagnostic = collapse(`${m[1] ?? ''}${m[3]}`);
    const known = out.find((e) => e.recipient === recipient);
    if (known) known.diagnostic ??= diagnostic;
    else out.push({ recipient, diagnostic });
  }
  return out;
}

const EXCHANGE_HEAD = anyOf(
  [
    'delivery has failed to these recipients or groups',
    'did not reach the following recipient\\(s\\)',
    'the following recipient\\(s\\) (?:could not|cannot) be reached',
    "la remise n'a pas abouti pour ces destinataires ou groupes",
    'fehler bei der nachrichtenzustellung an folgende empfänger oder gruppen',
    'no se pudo entregar a estos destinatarios o grupos',
    'impossibile recapitare il messaggio ai seguenti destinatari o gruppi',
  ].map((p) => `(?:${p})\\s*:?`),
);
const EXCHANGE_END = anyOf([
  'diagnostic information for administrators',
  'informations de diagnostic pour les administrateurs',
  'diagnoseinformationen für administratoren',
  'información de diagnóstico para administradores',
  'informazioni di diagnostica per gli amministratori',
  'original message headers',
]);
const EXCHANGE_REMOTE =
  /(?:remote server returned|le serveur distant a retourné|der remoteserver hat|el servidor remoto devolvió|il server remoto ha restituito)\s*'([^']+)'/i;

/** Exchange / Outlook NDRs: the addresses after "Delivery has failed ...", the reason in "Remote Server returned '...'" or "<host #5.1.1 ...>". */
function exchangeEntries(notice: string): PlainEntry[] {
  const head = EXCHANGE_HEAD.exec(notice);
  if (!head) return [];
  const afterHead = notice.slice(head.index + head[0].length);
  const end = EXCHANGE_END.exec(afterHead);
  const section = end ? afterHead.slice(0, end.index) : afterHead;
  const diagSection = end ? afterHead.slice(end.index) : '';
  const out: PlainEntry[] = [];
  for (const recipient of emailsIn(section, 20)) {
    if (out.some((e) => e.recipient === recipient)) continue;
    const at = section.toLowerCase().indexOf(recipient);
    // The human explanation: the lines after the address, up to the next address or blank line pair.
    const human = section
      .slice(at + recipient.length)
      .replace(/^[^\n]*\n/, '')
      .split(/\n[ \t]*\r?\n[ \t]*\r?\n|\n(?=[ \t]*\S+@\S+)/)[0];
    const inDiag = diagSection.toLowerCase().indexOf(recipient);
    const diagText = inDiag >= 0 ? diagSection.slice(inDiag) : diagSection;
    const angleHash = /<([^<>\n]*#[245]\.\d+\.\d+[^<>\n]*)>/;
    const remote =
      EXCHANGE_REMOTE.exec(diagText)?.[1] ??
      /#(\d{3}[ -][245]\.\d+\.\d+[^#]*)##/.exec(notice)?.[1] ??
      angleHash.exec(diagText)?.[1] ??
      angleHash.exec(human ?? '')?.[1];
    const text = [remote, human].filter((s): s is string => !!s).join(' — ');
    out.push({ recipient, diagnostic: collapse(text) });
  }
  return out;
}

/** Gmail's older plain-text bounces and the human part of its current ones. */
function gmailEntries(notice: string): PlainEntry[] {
  const details =
    /(?:technical details of (?:permanent|temporary) failure:|the response (?:from the remote server )?was:)[ \t]*\r?\n([\s\S]*?)(?=\n[ \t]*-{3,}|$)/i.exec(
      notice,
    )?.[1];
  const listed =
    /delivery to the following recipients? (?:failed permanently|has been delayed):[ \t]*\r?\n([\s\S]*?)\n[ \t]*\r?\n/i.exec(
      notice,
    )?.[1];
  const sentence = new RegExp(
    `(?:wasn't delivered to|message to|delivering your message to|couldn't be delivered to|not (?:been )?delivered (?:yet )?to)\\s+<?(${EMAIL_SOURCE})`,
    'iu',
  ).exec(notice)?.[1];
  const recipients = listed ? emailsIn(listed) : sentence ? [sentence.toLowerCase()] : [];
  return recipients.map((recipient) => ({ recipient, diagnostic: collapse(details ?? '') }));
}

/** Lotus Domino: "was not delivered to: <addr> because: <reason>". */
function dominoEntries(notice: string): PlainEntry[] {
  const m =
    /was not delivered to:[ \t]*\r?\n([\s\S]*?)\n[ \t]*because:\s*([\s\S]*?)(?:\n[ \t]*\r?\n(?=[ \t]*\S)|$)/i.exec(
      notice,
    );
  if (!m) return [];
  return emailsIn(m[1]!).map((recipient) => ({ recipient, diagnostic: collapse(m[2]!) }));
}

function hmailEntries(notice: string): PlainEntry[] {
  const out: PlainEntry[] = [];
  const re = new RegExp(
    `^[ \\t]*(${EMAIL_SOURCE})[ \\t]*\\r?\\n([\\s\\S]*?)(?=\\n[ \\t]*\\r?\\n|(?![\\s\\S]))`,
    'gimu',
  );
  for (let m = re.exec(notice); m; m = re.exec(notice)) {
    const replied = /remote server replied:\s*(.+)/i.exec(m[2]!)?.[1] ?? m[2]!;
    out.push({ recipient: m[1]!.toLowerCase(), diagnostic: collapse(replied) });
  }
  return out;
}

function smartermailEntries(notice: string): PlainEntry[] {
  const out: PlainEntry[] = [];
  const re = new RegExp(
    `failed to deliver to '<?(${EMAIL_SOURCE})>?'[ \\t]*\\r?\\n([\\s\\S]*?)(?=\\n[ \\t]*\\r?\\n|failed to deliver to|$)`,
    'giu',
  );
  for (let m = re.exec(notice); m; m = re.exec(notice))
    out.push({ recipient: m[1]!.toLowerCase(), diagnostic: collapse(m[2]!) });
  return out;
}

function groupwiseEntries(notice: string): PlainEntry[] {
  const m = /undeliverable to the following:?[ \t]*\r?\n([\s\S]*?)(?:\n[ \t]*\r?\n|$)/i.exec(notice);
  if (!m) return [];
  const out: PlainEntry[] = [];
  const re = new RegExp(`(${EMAIL_SOURCE})\\s*(?:\\(([^)]*)\\))?`, 'gu');
  for (let e = re.exec(m[1]!); e; e = re.exec(m[1]!))
    out.push({ recipient: e[1]!.toLowerCase(), diagnostic: collapse(e[2] ?? '') });
  return out;
}

/** MDaemon and other transcript-style reports: the address given to RCPT TO and the 4xx/5xx reply after it. */
function transcriptEntries(notice: string): PlainEntry[] {
  const out: PlainEntry[] = [];
  const re = new RegExp(
    `RCPT TO:\\s*<(${EMAIL_SOURCE})>[^\\n]*\\n(?:[^\\n]*\\n){0,3}?[^\\n]*?(?:<--|<<<|replied:|said:)[ \\t]*([45]\\d\\d[ -][^\\n]+)`,
    'giu',
  );
  for (let m = re.exec(notice); m; m = re.exec(notice)) {
    const recipient = m[1]!.toLowerCase();
    if (!out.some((e) => e.recipient === recipient)) out.push({ recipient, diagnostic: collapse(m[2]!) });
  }
  return out;
}

const ENTRY_READERS: Partial<Record<ReportFormat, (notice: string) => PlainEntry[]>> = {
  qmail: angleColonEntries,
  yahoo: angleColonEntries,
  postfix: angleColonEntries,
  courier: (n) => {
    const e = angleColonEntries(n);
    return e.length ? e : transcriptEntries(n);
  },
  exim: eximEntries,
  sendmail: sendmailEntries,
  exchange: exchangeEntries,
  hmailserver: hmailEntries,
  smartermail: smartermailEntries,
  groupwise: groupwiseEntries,
  mdaemon: transcriptEntries,
  gmail: gmailEntries,
  domino: dominoEntries,
};

export interface PlainContext {
  subject: string;
  /** The sender is a mail system (MAILER-DAEMON, postmaster, X-Failed-Recipients): a reply code is evidence enough. */
  trusted: boolean;
  /** X-Failed-Recipients (Exim, Gmail), lowercased. */
  failedRecipients: string[];
  /** Addresses that cannot be the failed recipient (the report's From and To, the original sender). */
  exclude: string[];
  /**
   * The sender is not known to send bounces (only the subject or a null sender hinted at one): a
   * known family's sentences, or failure sentences with an SMTP reply code, are then required.
   */
  strict: boolean;
}

/** The words next to the address ("Unknown user: a@b", "a@b (user not found)"), or the line after a bare address. */
function lineAbout(notice: string, recipient: string): string | null {
  const all = lines(notice);
  const i = all.findIndex((l) => l.toLowerCase().includes(recipient));
  if (i < 0) return null;
  const words = (s: string) =>
    s
      .toLowerCase()
      .replace(recipient, ' ')
      .replace(/[<>"':,;()*\s-]+/g, ' ')
      .trim();
  if (/[a-z]{3}/i.test(words(all[i]!))) return collapse(all[i]!);
  const next = all.slice(i + 1).find((l) => l.trim() !== '');
  return next && emailsIn(next, 1).length === 0 ? collapse(`${all[i]} ${next}`) : null;
}

/** A line with the first SMTP failure reply in the text, for entries found without a diagnostic. */
function firstFailureLine(notice: string): string | null {
  const m = /^.*\b[45]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3})?.*$/m.exec(notice);
  return m ? collapse(m[0]) : null;
}

/**
 * Reads a plain-text bounce. Returns null when the text carries no bounce signature at all; the
 * caller decides whether the sender may send bounces in the first place.
 */
export function readPlainBounce(notice: string, ctx: PlainContext): PlainBounce | null {
  const family = FAMILIES.find(([, re]) => re.test(notice));
  const replyCode = /(?:^|[\s:(<])[45]\d\d[ -]/m.test(notice);
  const generic = !family && (GENERIC.test(notice) || GENERIC.test(ctx.subject) || (ctx.trusted && replyCode));
  if (!family && !generic && ctx.failedRecipients.length === 0) return null;
  if (ctx.strict && !family && !replyCode) return null;
  const format: ReportFormat = family?.[0] ?? 'generic_bounce';
  const signature = family ? `family=${family[0]}` : generic ? 'generic_failure_text' : 'x-failed-recipients';

  const excluded = new Set(ctx.exclude);
  let entries = (ENTRY_READERS[format]?.(notice) ?? []).filter((e) => !excluded.has(e.recipient));
  if (entries.length === 0) entries = angleColonEntries(notice).filter((e) => !excluded.has(e.recipient));
  if (entries.length === 0) entries = transcriptEntries(notice).filter((e) => !excluded.has(e.recipient));
  if (entries.length === 0 && ctx.failedRecipients.length > 0)
    entries = ctx.failedRecipients.map((recipient) => ({ recipient, diagnostic: null }));
  if (entries.length === 0) {
    const inline = /^[ \t]*(?:final|original)-recipient:[ \t]*(.+)$/im.exec(notice)?.[1];
    const any =
      extractAddress(inline) ??
      emailsIn(notice).find((a) => !excluded.has(a) && !/^(mailer-daemon|postmaster)@/.test(a));
    if (any) entries = [{ recipient: any, diagnostic: null }];
  }
  // One entry per address, and a bounded number of them: a report never names thousands of recipients.
  const seen = new Set<string>();
  entries = entries.filter((e) => !seen.has(e.recipient) && seen.add(e.recipient) && seen.size <= MAX_ENTRIES);
  const fallback = firstFailureLine(notice);
  for (const e of entries) {
    const about = lineAbout(notice, e.recipient);
    e.diagnostic ??= about && fallback && !/\b[45]\d\d\b/.test(about) ? `${about} — ${fallback}` : (about ?? fallback);
  }
  // X-Failed-Recipients is the MTA's own list: keep its order and members when the text disagrees.
  if (ctx.failedRecipients.length > 0 && !entries.some((e) => ctx.failedRecipients.includes(e.recipient))) {
    entries = ctx.failedRecipients.map((recipient) => ({ recipient, diagnostic: entries[0]?.diagnostic ?? fallback }));
  }

  const delayed = DELAY.test(notice) || (DELAY_SUBJECT.test(ctx.subject) && !PERMANENT.test(notice));
  return {
    format,
    entries,
    delayed: delayed && !/this is a permanent error|failed permanently|permanent fatal/i.test(notice),
    permanent: PERMANENT.test(notice) ? true : delayed ? false : null,
    reportingMta: reportingMtaIn(notice),
    signature,
  };
}

function reportingMtaIn(notice: string): string | null {
  const m =
    /this is the qmail-send program at ([a-z0-9.-]+)/i.exec(notice) ??
    /this is the (?:mail system|postfix program) at host ([a-z0-9.-]+)/i.exec(notice) ??
    /generating server:\s*([a-z0-9.-]+)/i.exec(notice) ??
    /delivery status notification from ([a-z0-9.-]+)/i.exec(notice) ??
    /on the queue on ([a-z0-9.-]+)/i.exec(notice);
  return m ? m[1]!.replace(/\.$/, '').toLowerCase() : null;
}
