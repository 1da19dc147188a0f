/**
 * classifyReport: what a message received at the bounce address (or found in a bounce mailbox) is.
 * Structured reports first (RFC 3464 DSN, RFC 5965 ARF, read receipts), then bounces without
 * structure from senders that send bounces, then auto-replies, then nothing. Pure and bounded:
 * never throws, never reads past its limits.
 */
import { extractAddress, extractAddresses, isDaemonSender, messageIdsIn } from './addresses.js';
import { parseFeedbackReport, type ArfFields } from './arf.js';
import { autoReplySignals, isChallengeResponse } from './autoreply.js';
import { categorise, replyClassIn, statusClass, suppressesAddress } from './category.js';
import { parseDeliveryStatus, type DsnFields } from './dsn.js';
import {
  embeddedHeaders,
  headerValue,
  headerValues,
  partText,
  walk,
  type Headers,
  type Limits,
  type Part,
} from './mime.js';
import { anyOf } from './phrases.js';
import { readPlainBounce, splitReturned, type PlainEntry } from './plain-bounce.js';
import type {
  Classification,
  ClassifyOptions,
  OriginalMessage,
  RecipientReport,
  ReportFormat,
  ReportHeaders,
  ReportKind,
} from './types.js';

const DEFAULTS: Limits = { maxBytes: 1024 * 1024, maxParts: 64, maxTextBytes: 64 * 1024 };

const DSN_TYPES = new Set(['message/delivery-status', 'message/global-delivery-status']);
const RETURNED_TYPES = new Set([
  'message/rfc822',
  'text/rfc822-headers',
  'message/global',
  'message/global-headers',
  'message/partial',
]);
const REPLY_PREFIX = /^\s*(re|fw|fwd|tr|aw|wg|rv|rif|sv|vs|antw|odp|r)\s*(\[\d+\])?\s*:/i;
const BOUNCE_SUBJECT = anyOf(
  [
    'undeliver(ed|able)',
    'returned mail',
    'mail delivery (failed|failure|system)',
    'delivery (status notification|failure|notification|has failed|failed|delayed)',
    'failure notice',
    'non remis',
    'unzustellbar',
    'nicht zustellbar',
    'no se puede entregar',
    'non recapitabile',
    'onbestelbaar',
    'message (not delivered|delivery failure)',
    'delayed mail',
    'warning: (could not send|message .* delayed)',
    'delivery[ _]failure',
    'returned to sender',
    'mail system error',
    'undeliverable mail',
    'недоставленное сообщение',
    'mail failure',
    'notice: mail delivery status',
  ].map((p) => `^\\s*(${p})`),
);

const RANK: Record<ReportKind, number> = {
  hard_bounce: 6,
  soft_bounce: 5,
  complaint: 4,
  unsubscribe: 3,
  delivered: 2,
  auto_reply: 1,
  unclassified: 0,
};

/** Classifies one report (its raw bytes, or its text). Never throws: anything unreadable is `unclassified` with a reason. */
export function classifyReport(raw: Buffer | string, opts: ClassifyOptions = {}): Classification {
  try {
    return classify(raw, opts);
  } catch (e) {
    return empty('internal_error', [`error=${e instanceof Error ? e.name : 'unknown'}`]);
  }
}

function emptyOriginal(): OriginalMessage {
  return { messageId: null, messageIdCandidates: [], from: null, envelopeFrom: null, to: null, subject: null };
}

function empty(reason: string, evidence: string[], report?: ReportHeaders): Classification {
  return {
    kind: 'unclassified',
    category: null,
    categorySource: null,
    recipient: null,
    status: null,
    diagnostic: null,
    reportingMta: null,
    feedbackType: null,
    feedbackAgent: null,
    final: false,
    suppress: false,
    recipients: [],
    unsubscribeToken: null,
    original: emptyOriginal(),
    report: report ?? { from: null, subject: null, messageId: null, date: null, addressedTo: [] },
    format: 'none',
    reason,
    evidence,
  };
}

function reportHeaders(h: Headers): ReportHeaders {
  const addressedTo: string[] = [];
  for (const name of ['delivered-to', 'x-original-to', 'to', 'envelope-to']) {
    for (const v of headerValues(h, name))
      for (const a of extractAddresses(v)) if (!addressedTo.includes(a)) addressedTo.push(a);
  }
  return {
    from: headerValue(h, 'from'),
    subject: headerValue(h, 'subject'),
    messageId: messageIdsIn(headerValue(h, 'message-id'))[0] ?? null,
    date: headerValue(h, 'date'),
    addressedTo,
  };
}

/** One recipient's verdict from its action and status. */
function verdict(
  action: string | null,
  status: string | null,
  diagnostic: string | null,
): { kind: ReportKind; final: boolean } {
  const cls = statusClass(status, diagnostic);
  // The remote server's last word was "try again later" (450 4.1.1 ...) and the reporting MTA gave
  // up: Exim writes 5.0.0, others 5.4.7 over such a retry timeout. The address was never refused for
  // good, so a permanent Status alone does not make it a hard bounce.
  const temporaryReply = replyClassIn(diagnostic) === '4';
  switch (action) {
    case 'failed':
      return { kind: cls === '4' || temporaryReply ? 'soft_bounce' : 'hard_bounce', final: true };
    case 'delayed':
      return { kind: 'soft_bounce', final: false };
    case 'delivered':
      return { kind: 'delivered', final: true };
    case 'relayed':
    case 'expanded':
    case 'deliverable':
      return { kind: 'unclassified', final: false };
    case 'expired':
      // Given up after the queue lifetime: like "failed" with 4.4.7, the address itself may be fine.
      return { kind: cls === '5' && !temporaryReply ? 'hard_bounce' : 'soft_bounce', final: true };
    default:
      if (cls === '5') return { kind: temporaryReply ? 'soft_bounce' : 'hard_bounce', final: true };
      if (cls === '4') return { kind: 'soft_bounce', final: false };
      if (cls === '2') return { kind: 'delivered', final: true };
      return { kind: 'unclassified', final: false };
  }
}

function recipientReport(
  recipient: string | null,
  fields: {
    finalRecipient?: string | null;
    originalRecipient?: string | null;
    action: string | null;
    status: string | null;
    diagnostic: string | null;
    remoteMta?: string | null;
  },
  v: { kind: ReportKind; final: boolean },
): RecipientReport {
  const bounce = v.kind === 'hard_bounce' || v.kind === 'soft_bounce';
  const c = bounce ? categorise(fields.status, fields.diagnostic) : null;
  return {
    recipient,
    finalRecipient: fields.finalRecipient ?? null,
    originalRecipient: fields.originalRecipient ?? null,
    action: fields.action,
    status: c?.status ?? (fields.status && /^[245]\.\d+\.\d+$/.test(fields.status) ? fields.status : null),
    diagnostic: fields.diagnostic,
    remoteMta: fields.remoteMta ?? null,
    kind: v.kind,
    category: c?.category ?? null,
    categorySource: c?.source ?? null,
    final: v.final,
    suppress: suppressesAddress(v.kind, c?.category ?? null),
  };
}

/** The top-level verdict is the worst recipient's: a report about two recipients is a bounce if either bounced. */
function fromEntries(base: Classification, entries: RecipientReport[]): Classification {
  const worst = entries.reduce<RecipientReport | null>(
    (w, e) => (!w || RANK[e.kind] > RANK[w.kind] || (RANK[e.kind] === RANK[w.kind] && e.final && !w.final) ? e : w),
    null,
  );
  if (!worst) return base;
  return {
    ...base,
    kind: worst.kind,
    category: worst.category,
    categorySource: worst.categorySource,
    recipient: worst.kind === 'unclassified' ? null : worst.recipient,
    status: worst.status,
    diagnostic: worst.diagnostic,
    final: worst.final,
    suppress: worst.suppress,
    recipients: entries,
  };
}

interface Context {
  limits: Limits;
  h: Headers;
  leaves: Part[];
  report: ReportHeaders;
  /** The human-readable notification, without any returned copy of the original. */
  notice: string;
  /** A returned copy in the text itself (plain bounces), if any. */
  returnedText: string | null;
  returnedHeaders: Headers | null;
  original: OriginalMessage;
  evidence: string[];
}

function noticeText(leaves: Part[], limits: Limits): string {
  const texts = leaves.filter((p) => p.type === 'text/plain').slice(0, 3);
  const chosen = texts.length > 0 ? texts : leaves.filter((p) => p.type === 'text/html').slice(0, 1);
  return chosen.map((p) => partText(p, limits.maxTextBytes)).join('\n\n');
}

/** What the report tells about the original message, most reliable source first. */
function originalOf(ctx: Omit<Context, 'original'>, extraIds: string[], envelopeFrom: string | null): OriginalMessage {
  const r = ctx.returnedHeaders;
  const own = ctx.report.messageId;
  const ids: string[] = [];
  const add = (list: string[]) => {
    for (const id of list) if (id !== own && !ids.includes(id) && ids.length < 20) ids.push(id);
  };
  if (r) add(messageIdsIn(headerValue(r, 'message-id')));
  add(extraIds);
  if (ctx.returnedText) add(messageIdsIn(/^[ \t]*message-id:\s*(<[^<>\s]+>)/im.exec(ctx.returnedText)?.[1]));
  add(messageIdsIn(headerValue(ctx.h, 'in-reply-to')));
  add(messageIdsIn(headerValue(ctx.h, 'references')).reverse());
  if (!ctx.returnedText) add(messageIdsIn(/^[ \t]*message-id:\s*(<[^<>\s]+>)/im.exec(ctx.notice)?.[1]));
  const textHeader = (name: string) => {
    const src = ctx.returnedText ?? '';
    const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(src);
    return m ? m[1]!.trim() : null;
  };
  const subject =
    (r && headerValue(r, 'subject')) ??
    textHeader('subject') ??
    /^[ \t]*subject:[ \t]*(.+)$/im.exec(ctx.notice)?.[1]?.trim() ??
    null;
  return {
    messageId: ids[0] ?? null,
    messageIdCandidates: ids,
    from: extractAddress((r && headerValue(r, 'from')) ?? textHeader('from')),
    envelopeFrom: envelopeFrom ?? extractAddress((r && headerValue(r, 'return-path')) ?? textHeader('return-path')),
    to: extractAddress((r && headerValue(r, 'to')) ?? textHeader('to')),
    subject,
  };
}

function classify(input: Buffer | string, opts: ClassifyOptions): Classification {
  // The walker works on bytes: a string is the message's text, so it becomes its UTF-8 bytes.
  const raw = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const limits: Limits = {
    maxBytes: opts.maxBytes ?? DEFAULTS.maxBytes,
    maxParts: Math.max(2, opts.maxParts ?? DEFAULTS.maxParts),
    maxTextBytes: opts.maxTextBytes ?? DEFAULTS.maxTextBytes,
  };
  if (raw.length === 0) return empty('empty_input', []);
  const walked = walk(raw, limits);
  const h = walked.root.headers;
  if (h.size === 0) return empty('no_headers', ['parse=no_header_block']);
  const report = reportHeaders(h);
  const evidence: string[] = walked.truncated ? ['input=truncated_at_limits'] : [];
  const leaves = walked.leaves;
  const returnedPart = leaves.find((p) => RETURNED_TYPES.has(p.type)) ?? null;
  const text = noticeText(leaves, limits);
  const { notice, returned } = splitReturned(text);
  const base = {
    limits,
    h,
    leaves,
    report,
    notice,
    returnedText: returned,
    returnedHeaders: returnedPart ? embeddedHeaders(returnedPart, limits.maxTextBytes) : null,
    evidence,
  };
  const reportType =
    walked.root.type === 'multipart/report' ? (walked.root.params['report-type'] ?? '').toLowerCase() : '';

  const dsnPart = leaves.find((p) => DSN_TYPES.has(p.type));
  if (dsnPart) {
    const c = fromDsn({ ...base, original: emptyOriginal() }, dsnPart);
    if (c) return c;
  }
  const arfPart = leaves.find((p) => p.type === 'message/feedback-report');
  if (arfPart) return fromArf({ ...base, original: emptyOriginal() }, arfPart);
  // Microsoft's older JMRP reports carry no feedback-report part: only the message, marked with the recipient.
  const jmrp = base.returnedHeaders && extractAddress(headerValue(base.returnedHeaders, 'x-hmxmroriginalrecipient'));
  if (jmrp) return fromArf({ ...base, original: emptyOriginal() }, null);
  if (reportType === 'disposition-notification' || leaves.some((p) => p.type === 'message/disposition-notification')) {
    return {
      ...empty('read_receipt', [...evidence, 'part=message/disposition-notification'], report),
      original: originalOf(base, [], null),
      format: 'mdn',
    };
  }

  const subject = report.subject ?? '';
  const failedRecipients = headerValues(h, 'x-failed-recipients').flatMap((v) => extractAddresses(v));
  const returnPath = headerValue(h, 'return-path');
  const nullSender = opts.envelopeFrom === '' || returnPath?.replace(/\s/g, '') === '<>';
  const daemon = isDaemonSender(report.from);
  const replyOrForward = REPLY_PREFIX.test(subject);
  const auto = autoReplySignals(h);
  const original = originalOf(base, [], null);
  const ctx: Context = { ...base, original };

  if (isUnsubscribeRequest(h, subject)) return unsubscribe(ctx);
  // Mail systems send bounces; people and their vacation responders do not.
  if (!replyOrForward && (daemon || failedRecipients.length > 0)) {
    const c = fromPlain(
      ctx,
      subject,
      failedRecipients,
      [daemon ? 'sender=mail_system' : 'header=x-failed-recipients'],
      { trusted: true },
    );
    if (c) return c;
    // A mail system's failure notice we cannot read: a bounce of the message, address unknown.
    if (BOUNCE_SUBJECT.test(subject))
      return unreadableBounce(ctx, [daemon ? 'sender=mail_system' : 'header=x-failed-recipients', 'subject=bounce']);
  }
  if (!daemon && (auto.strong.length > 0 || auto.vacationSubject)) {
    if (isChallengeResponse(h, notice)) return unclassifiedWith(ctx, 'challenge_response', ['text=challenge_response']);
    return autoReply(ctx, auto.strong.length > 0 ? 'auto_reply_header' : 'vacation_subject', [
      ...auto.strong,
      ...(auto.vacationSubject ? ['subject=vacation'] : []),
    ]);
  }
  if (
    !daemon &&
    !replyOrForward &&
    (nullSender || BOUNCE_SUBJECT.test(subject) || auto.weak.some((w) => w.startsWith('auto-submitted=')))
  ) {
    const hint = nullSender
      ? 'envelope=null_sender'
      : BOUNCE_SUBJECT.test(subject)
        ? 'subject=bounce'
        : 'header=auto-submitted';
    const c = fromPlain(ctx, subject, failedRecipients, [hint], { strict: true });
    if (c) return c;
  }
  if (isChallengeResponse(h, notice)) return unclassifiedWith(ctx, 'challenge_response', ['text=challenge_response']);
  if (daemon) return unclassifiedWith(ctx, 'mail_system_without_bounce', ['sender=mail_system']);
  if (auto.weak.some((w) => w.startsWith('auto-submitted=')) && auto.isReply) {
    return autoReply(ctx, 'auto_generated_reply', [...auto.weak, 'header=in-reply-to']);
  }
  if (auto.weak.length > 0) return unclassifiedWith(ctx, 'automated_not_reply', auto.weak);
  if (auto.isReply || replyOrForward)
    return unclassifiedWith(ctx, 'human_reply', [auto.isReply ? 'header=in-reply-to' : 'subject=reply_prefix']);
  return unclassifiedWith(ctx, 'no_report_signals', []);
}

function unclassifiedWith(ctx: Context, reason: string, evidence: string[]): Classification {
  return { ...empty(reason, [...ctx.evidence, ...evidence], ctx.report), original: ctx.original };
}

function autoReply(ctx: Context, reason: string, evidence: string[]): Classification {
  return {
    ...empty(reason, [...ctx.evidence, ...evidence], ctx.report),
    kind: 'auto_reply',
    recipient: extractAddress(ctx.report.from),
    original: ctx.original,
    format: 'auto_reply',
  };
}

function fromDsn(ctx: Context, part: Part): Classification | null {
  const dsn = parseDeliveryStatus(partText(part, ctx.limits.maxTextBytes));
  const c = fromDsnFields(ctx, dsn, [`part=${part.type}`]);
  if (c) return c;
  // A delivery-status part without usable recipients: read the notice as a plain bounce.
  const failed = headerValues(ctx.h, 'x-failed-recipients').flatMap((v) => extractAddresses(v));
  const original = originalOf(ctx, dsn.messageIds, dsn.envelopeFrom);
  const plain = fromPlain(
    { ...ctx, original },
    ctx.report.subject ?? '',
    failed,
    [`part=${part.type}`, 'dsn=no_recipients'],
    { trusted: true },
  );
  return plain ? { ...plain, reportingMta: plain.reportingMta ?? dsn.reportingMta } : null;
}

/** DSN fields written into the text itself (Amazon WorkMail, old Sendmail, PMDF): read like a delivery-status part. */
function inlineDsn(ctx: Context, why: string[]): Classification | null {
  const m = /^(reporting-mta|final-recipient|original-recipient)[ \t]*:/im.exec(ctx.notice);
  if (!m || !/^action[ \t]*:/im.test(ctx.notice.slice(m.index))) return null;
  return fromDsnFields(ctx, parseDeliveryStatus(ctx.notice.slice(m.index)), [...why, 'dsn=inline_text']);
}

function fromDsnFields(ctx: Context, dsn: DsnFields, why: string[]): Classification | null {
  const failed = headerValues(ctx.h, 'x-failed-recipients').flatMap((v) => extractAddresses(v));
  const original = originalOf(ctx, dsn.messageIds, dsn.envelopeFrom);
  const evidence = [...ctx.evidence, ...why];
  // Some MTAs leave Diagnostic-Code out and say why only in the notice: borrow its words.
  let plain: PlainEntry[] | null = null;
  const notice = (recipient: string | null): string | null => {
    plain ??=
      readPlainBounce(ctx.notice, {
        subject: ctx.report.subject ?? '',
        failedRecipients: failed,
        exclude: [],
        trusted: true,
        strict: false,
      })?.entries ?? [];
    return (
      (plain.find((p) => p.recipient === recipient) ?? (plain.length === 1 ? plain[0] : undefined))?.diagnostic ?? null
    );
  };
  const entries = dsn.recipients.map((r, i) => {
    const recipient = r.originalRecipient ?? r.finalRecipient ?? failed[i] ?? null;
    const fields = r.diagnostic || ctx.notice.trim() === '' ? r : { ...r, diagnostic: notice(recipient) };
    return recipientReport(recipient, fields, verdict(r.action, r.status, fields.diagnostic));
  });
  if (entries.length === 0 || entries.every((e) => e.recipient === null)) return null;
  const c = fromEntries(
    { ...empty('', evidence, ctx.report), original, reportingMta: dsn.reportingMta, format: 'dsn' as ReportFormat },
    entries,
  );
  const top = entries.find((e) => e.recipient === c.recipient && e.kind === c.kind) ?? entries[0]!;
  const action = top.action ?? 'none';
  c.reason =
    action === 'failed'
      ? c.kind === 'hard_bounce'
        ? 'dsn_failed_permanent'
        : 'dsn_failed_temporary'
      : action === 'none'
        ? `dsn_status_${c.kind}`
        : `dsn_${action}`;
  c.evidence = [
    ...evidence,
    `action=${action}`,
    ...(top.status ? [`status=${top.status}`] : []),
    ...(top.categorySource ? [`category_from=${top.categorySource}`] : []),
    `recipient_from=${top.originalRecipient ? 'original-recipient' : top.finalRecipient ? 'final-recipient' : 'x-failed-recipients'}`,
    ...(entries.length > 1 ? [`recipients=${entries.length}`] : []),
  ];
  return c;
}

const COMPLAINT_TYPES = new Set(['abuse', 'fraud', 'virus', 'other']);
const UNSUBSCRIBE_TYPES = new Set(['opt-out', 'unsubscribe']);

/** An ARF report, or (part null) one of Microsoft's older JMRP reports that have no feedback-report part. */
function fromArf(ctx: Context, part: Part | null): Classification {
  const arf: ArfFields = part
    ? parseFeedbackReport(partText(part, ctx.limits.maxTextBytes))
    : {
        feedbackType: null,
        userAgent: null,
        originalMailFrom: null,
        recipients: [],
        sourceIp: null,
        reportedDomain: null,
        arrivalDate: null,
      };
  const r = ctx.returnedHeaders;
  const original = originalOf(ctx, [], arf.originalMailFrom);
  const evidence = [
    ...ctx.evidence,
    part ? 'part=message/feedback-report' : 'legacy_jmrp=x-hmxmroriginalrecipient',
    `feedback-type=${arf.feedbackType ?? 'none'}`,
  ];
  const base: Classification = {
    ...empty('', evidence, ctx.report),
    original,
    feedbackType: arf.feedbackType,
    feedbackAgent: arf.userAgent,
    format: 'arf',
  };
  const type = arf.feedbackType ?? 'abuse';
  let recipients = arf.recipients;
  let from = 'original-rcpt-to';
  if (recipients.length === 0 && r) {
    // Microsoft's JMRP redacts the To header and puts the recipient here.
    const ms = extractAddress(headerValue(r, 'x-hmxmroriginalrecipient'));
    const to = extractAddresses(headerValue(r, 'to'));
    if (ms) [recipients, from] = [[ms], 'x-hmxmroriginalrecipient'];
    else if (to.length === 1 && !/redacted|^x+@|\*/i.test(to[0]!)) [recipients, from] = [to, 'returned-to'];
  }
  const kind: ReportKind | null = COMPLAINT_TYPES.has(type)
    ? 'complaint'
    : UNSUBSCRIBE_TYPES.has(type)
      ? 'unsubscribe'
      : null;
  if (!kind) return { ...base, reason: `arf_${type.replace(/[^a-z0-9]+/g, '_')}` };
  const entries = recipients.map((recipient) =>
    recipientReport(recipient, { action: null, status: null, diagnostic: null }, { kind, final: false }),
  );
  const c: Classification = {
    ...base,
    kind,
    reason: `arf_${type.replace(/[^a-z0-9]+/g, '_')}`,
    suppress: true,
    recipients: entries,
    recipient: recipients[0] ?? null,
  };
  c.evidence = [...evidence, recipients.length > 0 ? `recipient_from=${from}` : 'recipient=redacted'];
  return c;
}

/** A mail system's failure notice whose recipient cannot be read: the message bounced, the address is unknown. */
function unreadableBounce(ctx: Context, evidence: string[]): Classification {
  return {
    ...empty('plain_bounce_unreadable', [...ctx.evidence, ...evidence, 'recipient=unreadable'], ctx.report),
    kind: 'hard_bounce',
    category: 'other',
    categorySource: 'default',
    final: true,
    original: ctx.original,
    format: 'generic_bounce',
  };
}

const UNSUBSCRIBE_SUBJECT = /^\s*unsubscribe(?:\s+(\S+))?\s*$/i;

/** RFC 2369 mailto unsubscribe (Postier's List-Unsubscribe sends "unsubscribe <token>"), Apple Mail's one-click by mail. */
function isUnsubscribeRequest(h: Headers, subject: string): boolean {
  return UNSUBSCRIBE_SUBJECT.test(subject) || /^\s*true\s*$/i.test(headerValue(h, 'x-apple-unsubscribe') ?? '');
}

function unsubscribe(ctx: Context): Classification {
  const token = UNSUBSCRIBE_SUBJECT.exec(ctx.report.subject ?? '')?.[1] ?? null;
  const recipient = extractAddress(ctx.report.from);
  return {
    ...empty(
      'unsubscribe_request',
      [
        ...ctx.evidence,
        UNSUBSCRIBE_SUBJECT.test(ctx.report.subject ?? '') ? 'subject=unsubscribe' : 'header=x-apple-unsubscribe',
      ],
      ctx.report,
    ),
    kind: 'unsubscribe',
    recipient,
    suppress: true,
    unsubscribeToken: token,
    original: ctx.original,
  };
}

function fromPlain(
  ctx: Context,
  subject: string,
  failedRecipients: string[],
  why: string[],
  trust: { trusted?: boolean; strict?: boolean },
): Classification | null {
  const inline = inlineDsn(ctx, why);
  if (inline) return inline;
  const exclude = [
    extractAddress(ctx.report.from),
    ...ctx.report.addressedTo,
    ctx.original.from,
    ctx.original.envelopeFrom,
  ].filter((a): a is string => !!a);
  const plain = readPlainBounce(ctx.notice, {
    subject,
    failedRecipients,
    exclude,
    trusted: trust.trusted ?? false,
    strict: trust.strict ?? false,
  });
  if (!plain || plain.entries.length === 0) return null;
  const entries = plain.entries.map((e) => {
    const cls = statusClass(null, e.diagnostic);
    const kind: ReportKind = plain.delayed
      ? 'soft_bounce'
      : cls === '4'
        ? 'soft_bounce'
        : cls === '5'
          ? 'hard_bounce'
          : plain.permanent === false
            ? 'soft_bounce'
            : 'hard_bounce';
    const action = plain.delayed ? 'delayed' : 'failed';
    return recipientReport(
      e.recipient,
      { action, status: null, diagnostic: e.diagnostic },
      { kind, final: !plain.delayed },
    );
  });
  const c = fromEntries(
    { ...empty('', [], ctx.report), original: ctx.original, reportingMta: plain.reportingMta, format: plain.format },
    entries,
  );
  c.reason = plain.delayed ? `plain_delay_${plain.format}` : `plain_bounce_${plain.format}`;
  const top = entries.find((e) => e.recipient === c.recipient) ?? entries[0]!;
  c.evidence = [
    ...ctx.evidence,
    ...why,
    plain.signature,
    ...(top.status ? [`status=${top.status}`] : []),
    ...(top.categorySource ? [`category_from=${top.categorySource}`] : []),
    ...(plain.permanent === true ? ['text=permanent'] : []),
    ...(plain.delayed ? ['text=delay_warning'] : []),
  ];
  return c;
}
