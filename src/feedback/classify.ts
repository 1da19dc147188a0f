/**
 * classifyReport: what a message received at the bounce address (or found in a bounce mailbox) is.
 * Structured reports first (RFC 3464 DSN, RFC 5965 ARF, read receipts), then bounces without
 * structure from senders that send bounces, then auto-replies, then nothing. Pure and bounded:
 * never throws, never reads past its limits.
 */
import { extractAddress, extractAddresses, isDaemonSender, messageIdsIn } from './addresses.js';
import { parseFeedbackReport } from './arf.js';
import { autoReplySignals, isChallengeResponse } from './autoreply.js';
import { categorise, statusClass, suppressesAddress } from './category.js';
import { parseDeliveryStatus } from './dsn.js';
import { embeddedHeaders, headerValue, headerValues, partText, walk, type Headers, type Limits, type Part } from './mime.js';
import { readPlainBounce, splitReturned } from './plain-bounce.js';
import type { Classification, ClassifyOptions, OriginalMessage, RecipientReport, ReportFormat, ReportHeaders, ReportKind } from './types.js';

const DEFAULTS: Limits = { maxBytes: 1024 * 1024, maxParts: 64, maxTextBytes: 64 * 1024 };

const DSN_TYPES = new Set(['message/delivery-status', 'message/global-delivery-status']);
const RETURNED_TYPES = new Set(['message/rfc822', 'text/rfc822-headers', 'message/global', 'message/global-headers', 'message/partial']);
const REPLY_PREFIX = /^\s*(re|fw|fwd|tr|aw|wg|rv|rif|sv|vs|antw|odp|r)\s*(\[\d+\])?\s*:/i;
const BOUNCE_SUBJECT =
  /^\s*(undeliver(ed|able)|returned mail|mail delivery (failed|failure|system)|delivery (status notification|failure|notification|has failed|failed|delayed)|failure notice|non remis|unzustellbar|nicht zustellbar|no se puede entregar|non recapitabile|onbestelbaar|message (not delivered|delivery failure)|delayed mail|warning: (could not send|message .* delayed)|delivery[ _]failure|returned to sender|mail system error|undeliverable mail|недоставленное сообщение|mail failure|notice: mail delivery status)/i;

const RANK: Record<ReportKind, number> = { hard_bounce: 5, soft_bounce: 4, complaint: 3, delivered: 2, auto_reply: 1, unclassified: 0 };

/** Classifies one report. Never throws: anything unreadable is `unclassified` with a reason. */
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
    for (const v of headerValues(h, name)) for (const a of extractAddresses(v)) if (!addressedTo.includes(a)) addressedTo.push(a);
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
function verdict(action: string | null, status: string | null, diagnostic: string | null): { kind: ReportKind; final: boolean } {
  const cls = statusClass(status, diagnostic);
  switch (action) {
    case 'failed':
      return { kind: cls === '4' ? 'soft_bounce' : 'hard_bounce', final: true };
    case 'delayed':
      return { kind: 'soft_bounce', final: false };
    case 'delivered':
      return { kind: 'delivered', final: true };
    case 'relayed':
    case 'expanded':
      return { kind: 'unclassified', final: false };
    default:
      if (cls === '5') return { kind: 'hard_bounce', final: true };
      if (cls === '4') return { kind: 'soft_bounce', final: false };
      if (cls === '2') return { kind: 'delivered', final: true };
      return { kind: 'unclassified', final: false };
  }
}

function recipientReport(
  recipient: string | null,
  fields: { finalRecipient?: string | null; originalRecipient?: string | null; action: string | null; status: string | null; diagnostic: string | null; remoteMta?: string | null },
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
  const worst = entries.reduce<RecipientReport | null>((w, e) => (!w || RANK[e.kind] > RANK[w.kind] || (RANK[e.kind] === RANK[w.kind] && e.final && !w.final) ? e : w), null);
  if (!worst) return base;
  return {
    ...base,
    kind: worst.kind,
    category: worst.category,
    categorySource: worst.categorySource,
    recipient: worst.recipient,
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
  const subject = (r && headerValue(r, 'subject')) ?? textHeader('subject') ?? /^\s*subject:\s*(.+)$/im.exec(ctx.notice)?.[1]?.trim() ?? null;
  return {
    messageId: ids[0] ?? null,
    messageIdCandidates: ids,
    from: extractAddress((r && headerValue(r, 'from')) ?? textHeader('from')),
    envelopeFrom: envelopeFrom ?? extractAddress((r && headerValue(r, 'return-path')) ?? textHeader('return-path')),
    to: extractAddress((r && headerValue(r, 'to')) ?? textHeader('to')),
    subject,
  };
}

function classify(raw: Buffer | string, opts: ClassifyOptions): Classification {
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
  const reportType = walked.root.type === 'multipart/report' ? (walked.root.params['report-type'] ?? '').toLowerCase() : '';

  const dsnPart = leaves.find((p) => DSN_TYPES.has(p.type));
  if (dsnPart) {
    const c = fromDsn({ ...base, original: emptyOriginal() }, dsnPart);
    if (c) return c;
  }
  const arfPart = leaves.find((p) => p.type === 'message/feedback-report');
  if (arfPart) return fromArf({ ...base, original: emptyOriginal() }, arfPart);
  if (reportType === 'disposition-notification' || leaves.some((p) => p.type === 'message/disposition-notification')) {
    return { ...empty('read_receipt', [...evidence, 'part=message/disposition-notification'], report), original: originalOf(base, [], null), format: 'mdn' };
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

  // Mail systems send bounces; people and their vacation responders do not.
  if (!replyOrForward && (daemon || failedRecipients.length > 0)) {
    const c = fromPlain(ctx, subject, failedRecipients, [daemon ? 'sender=mail_system' : 'header=x-failed-recipients']);
    if (c) return c;
  }
  if (auto.strong.length > 0 || auto.vacationSubject) {
    if (isChallengeResponse(h, notice)) return unclassifiedWith(ctx, 'challenge_response', ['text=challenge_response']);
    const why = auto.strong[0] ?? 'vacation_subject';
    return autoReply(ctx, auto.strong.length > 0 ? `auto_reply_header` : 'vacation_subject', [...auto.strong, ...(auto.vacationSubject ? ['subject=vacation'] : []), `first=${why}`]);
  }
  if (!replyOrForward && (nullSender || BOUNCE_SUBJECT.test(subject) || auto.weak.some((w) => w.startsWith('auto-submitted=')))) {
    const c = fromPlain(ctx, subject, failedRecipients, [nullSender ? 'envelope=null_sender' : BOUNCE_SUBJECT.test(subject) ? 'subject=bounce' : 'header=auto-submitted']);
    if (c) return c;
  }
  if (isChallengeResponse(h, notice)) return unclassifiedWith(ctx, 'challenge_response', ['text=challenge_response']);
  if (auto.weak.some((w) => w.startsWith('auto-submitted=')) && auto.isReply && !daemon) {
    return autoReply(ctx, 'auto_generated_reply', [...auto.weak, 'header=in-reply-to']);
  }
  if (daemon) return unclassifiedWith(ctx, 'mail_system_without_bounce', ['sender=mail_system']);
  if (auto.weak.length > 0) return unclassifiedWith(ctx, 'automated_not_reply', auto.weak);
  if (auto.isReply || replyOrForward) return unclassifiedWith(ctx, 'human_reply', [auto.isReply ? 'header=in-reply-to' : 'subject=reply_prefix']);
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
  const failed = headerValues(ctx.h, 'x-failed-recipients').flatMap((v) => extractAddresses(v));
  const original = originalOf(ctx, dsn.messageIds, dsn.envelopeFrom);
  const evidence = [...ctx.evidence, `part=${part.type}`];
  const entries = dsn.recipients.map((r, i) => {
    const recipient = r.originalRecipient ?? r.finalRecipient ?? failed[i] ?? null;
    return recipientReport(recipient, r, verdict(r.action, r.status, r.diagnostic));
  });
  if (entries.length === 0 || entries.every((e) => e.recipient === null)) {
    // A delivery-status part without usable recipients: read the notice as a plain bounce.
    const c = fromPlain({ ...ctx, original }, ctx.report.subject ?? '', failed, [`part=${part.type}`, 'dsn=no_recipients']);
    return c ? { ...c, reportingMta: c.reportingMta ?? dsn.reportingMta } : null;
  }
  const c = fromEntries(
    { ...empty('', evidence, ctx.report), original, reportingMta: dsn.reportingMta, format: 'dsn' as ReportFormat },
    entries,
  );
  const top = entries.find((e) => e.recipient === c.recipient && e.kind === c.kind) ?? entries[0]!;
  const action = top.action ?? 'none';
  c.reason =
    action === 'failed' ? (c.kind === 'hard_bounce' ? 'dsn_failed_permanent' : 'dsn_failed_temporary') : action === 'none' ? `dsn_status_${c.kind}` : `dsn_${action}`;
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

function fromArf(ctx: Context, part: Part): Classification {
  const arf = parseFeedbackReport(partText(part, ctx.limits.maxTextBytes));
  const r = ctx.returnedHeaders;
  const original = originalOf(ctx, [], arf.originalMailFrom);
  const evidence = [...ctx.evidence, 'part=message/feedback-report', `feedback-type=${arf.feedbackType ?? 'none'}`];
  const base: Classification = {
    ...empty('', evidence, ctx.report),
    original,
    feedbackType: arf.feedbackType,
    feedbackAgent: arf.userAgent,
    format: 'arf',
  };
  const type = arf.feedbackType ?? 'abuse';
  if (!COMPLAINT_TYPES.has(type)) return { ...base, reason: `arf_${type.replace(/[^a-z0-9]+/g, '_')}` };
  let recipients = arf.recipients;
  let from = 'original-rcpt-to';
  if (recipients.length === 0 && r) {
    // Microsoft's JMRP redacts the To header and puts the recipient here.
    const ms = extractAddress(headerValue(r, 'x-hmxmroriginalrecipient'));
    const to = extractAddresses(headerValue(r, 'to'));
    if (ms) [recipients, from] = [[ms], 'x-hmxmroriginalrecipient'];
    else if (to.length === 1 && !/redacted|^x+@|\*/i.test(to[0]!)) [recipients, from] = [to, 'returned-to'];
  }
  const entries = recipients.map((recipient) => recipientReport(recipient, { action: null, status: null, diagnostic: null }, { kind: 'complaint', final: false }));
  const c: Classification = { ...base, kind: 'complaint', reason: `arf_${type}`, suppress: true, recipients: entries, recipient: recipients[0] ?? null };
  c.evidence = [...evidence, recipients.length > 0 ? `recipient_from=${from}` : 'recipient=redacted'];
  return c;
}

function fromPlain(ctx: Context, subject: string, failedRecipients: string[], why: string[]): Classification | null {
  const exclude = [extractAddress(ctx.report.from), ...ctx.report.addressedTo, ctx.original.from, ctx.original.envelopeFrom].filter((a): a is string => !!a);
  const plain = readPlainBounce(ctx.notice, { subject, failedRecipients, exclude });
  if (!plain || plain.entries.length === 0) return null;
  const entries = plain.entries.map((e) => {
    const cls = statusClass(null, e.diagnostic);
    const kind: ReportKind = plain.delayed ? 'soft_bounce' : cls === '4' ? 'soft_bounce' : cls === '5' ? 'hard_bounce' : plain.permanent === false ? 'soft_bounce' : 'hard_bounce';
    const action = plain.delayed ? 'delayed' : 'failed';
    return recipientReport(e.recipient, { action, status: null, diagnostic: e.diagnostic }, { kind, final: !plain.delayed });
  });
  const c = fromEntries({ ...empty('', [], ctx.report), original: ctx.original, reportingMta: plain.reportingMta, format: plain.format }, entries);
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
