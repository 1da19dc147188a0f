import type { MessageRow } from '../platform/db/schema.js';
import { type BackoffPolicy, retryDelay } from './backoff.js';
import { errorCodeOf, type ReplyFacts, type SmtpOutcome } from './outcome.js';
import {
  parseRecipientStatus,
  type RecipientKind,
  recipientKinds,
  type RecipientState,
  type RecipientStatus,
  type RecipientStatusMap,
} from './recipient-status.js';
import { type Classification, classifyReply, providerMessageId, type RelayProblemKind } from './smtp-reply.js';

/**
 * The delivery rules: from one attempt's outcome to what the message becomes. Pure, so every
 * rule is tested without SMTP or a database.
 *
 * Each envelope recipient gets its own result: accepted, deferred (4xx, a timeout: retried),
 * refused (5xx at RCPT), failed (the message refused, attempts spent). The next attempt goes to
 * the deferred recipients only: an accepted recipient never gets the message twice. A relay
 * problem (see smtp-reply.ts) does not spend the attempt; it fails recipients only after
 * `relayProblemMaxMs` of nothing but relay problems. A cc/bcc withheld (suppressed) is settled as
 * such: not sent to, neither accepted nor failed; the message is `sent` when every recipient it
 * went to accepted it.
 */

/**
 * `captured` is never decided here: the worker renames `sent` when it delivers to the capture
 * server. `suppressed`: the message was stopped before anyone got it (see suppressedCompletion).
 */
export type FinalStatus = 'sent' | 'queued' | 'failed' | 'partially_sent' | 'captured' | 'suppressed';

export interface RecipientResult {
  address: string;
  kind: RecipientKind;
  status: RecipientState;
  code: number | null;
  enhanced: string | null;
  response: string;
  relay_problem?: RelayProblemKind;
}

/** A recipient left out of the envelope because the suppression list stops it (a cc/bcc, or a `to` once the message went out). */
export interface WithheldRecipient {
  address: string;
  kind: RecipientKind;
  reason: string;
}

/** The attempt event's data. */
export interface AttemptRecord {
  attempt: number;
  code: number | null;
  response: string;
  duration_ms: number;
  error_code?: string;
  /** The phase a failure happened in (connect, greeting, ehlo, …, data_end). */
  phase?: string;
  /** Set when the attempt met a relay problem: it did not count against the message's attempts. */
  relay_problem?: RelayProblemKind;
  /** Each recipient of the attempt, when the message has more than one. */
  recipients?: RecipientResult[];
  /** The relay that answered, when fallback relays are configured (relay, relay-2, …). */
  relay?: string;
  /** The recipients this attempt left out of the envelope (suppressed), when there were any. */
  withheld?: WithheldRecipient[];
}

/** What the relay's health looked like in this attempt (null: this attempt says nothing about it). */
export type RelayObservation = { state: 'ok' } | { state: 'problem'; kind: RelayProblemKind; text: string } | null;

/** What to write, in one transaction, once an attempt is over. */
export interface Completion {
  status: FinalStatus;
  at: number;
  attempt: AttemptRecord;
  /** False for a relay problem: the lease's increment of `attempts` is undone. */
  counted: boolean;
  smtpResponse: string | null;
  providerMessageId: string | null;
  sentAt: number | null;
  nextAttemptAt: number | null;
  errorMessage: string | null;
  /** The per-recipient map to store (messages with more than one envelope recipient). */
  recipientStatus: RecipientStatusMap | null;
  /** Start of the current run of relay problems; null once an attempt got past them. */
  relayProblemSince: number | null;
  /** A partially_sent event to record while the message stays queued for its deferred recipients. */
  partial: { accepted: RecipientResult[]; deferred: RecipientResult[] } | null;
  relay: RelayObservation;
}

export interface DecideInput {
  message: Pick<
    MessageRow,
    'attempts' | 'max_attempts' | 'recipient_status' | 'relay_problem_since' | 'recipient_email' | 'cc' | 'bcc'
  > &
    /** The last reply on record: kept when an attempt sends nothing (its owed recipients all withheld). */
    Partial<Pick<MessageRow, 'smtp_response'>>;
  /** Every envelope recipient of the message (to, cc, bcc). */
  envelope: string[];
  /** Those this attempt was for (the deferred ones, less the withheld). */
  owed: string[];
  /** Owed recipients left out of this attempt's envelope: the suppression list stops them. */
  withheld?: Array<{ address: string; reason: string }>;
  outcome: SmtpOutcome;
  started: number;
  at: number;
  backoff: BackoffPolicy;
  relayProblemMaxMs: number;
  random?: () => number;
}

type Verdict = Classification | { class: 'accepted'; relayProblem: null };

interface Result extends ReplyFacts {
  address: string;
  verdict: Verdict;
}

const isOk = (code: number | null) => code !== null && code >= 200 && code < 300;

/** Each owed recipient's verdict for this attempt. */
function results(input: DecideInput): Result[] {
  const { outcome, owed } = input;
  if (outcome.type === 'failure') {
    const { phase, kind, code, enhanced, response } = outcome;
    const verdict: Verdict =
      phase === 'build' || kind === 'build'
        ? { class: outcome.permanent ? 'message_permanent' : 'transient', relayProblem: null }
        : classifyReply({ phase, kind, code, enhanced, text: response });
    return owed.map((address) => ({
      address,
      verdict,
      code: outcome.code,
      enhanced: outcome.enhanced,
      response: outcome.response,
    }));
  }
  const byAddress = new Map(outcome.recipients.map((r) => [r.address, r]));
  return owed.map((address): Result => {
    const r = byAddress.get(address);
    if (!r)
      return {
        address,
        verdict: { class: 'transient', relayProblem: null },
        code: null,
        enhanced: null,
        response: 'No reply for this recipient',
      };
    if (!r.accepted)
      return {
        ...r,
        verdict: classifyReply({ phase: 'rcpt', kind: 'reply', code: r.code, enhanced: r.enhanced, text: r.response }),
      };
    const data = outcome.data;
    if (!data) return { ...r, verdict: { class: 'transient', relayProblem: null } };
    if (isOk(data.code)) return { address, ...data, verdict: { class: 'accepted', relayProblem: null } };
    return {
      address,
      ...data,
      verdict: classifyReply({
        phase: 'data_end',
        kind: 'reply',
        code: data.code,
        enhanced: data.enhanced,
        text: data.response,
      }),
    };
  });
}

export function decide(input: DecideInput): Completion {
  const { message, envelope, outcome, at, backoff, random } = input;
  const attempt = message.attempts;
  const found = results(input);
  const relayResults = found.filter((r) => r.verdict.class === 'relay_problem');
  const counted = found.length === 0 || relayResults.length < found.length;
  const relayKind = relayResults[0]?.verdict.relayProblem ?? undefined;
  const relayProblemSince = relayResults.length ? (message.relay_problem_since ?? at) : null;
  const relayExpired = relayProblemSince !== null && at - relayProblemSince >= input.relayProblemMaxMs;

  const prior = parseRecipientStatus(message.recipient_status);
  const kindOf = recipientKinds(message);
  const map: RecipientStatusMap = {};
  for (const address of envelope) {
    const before = prior?.[address];
    if (before) map[address] = before;
  }
  const attemptResults: RecipientResult[] = [];
  for (const r of found) {
    const cls = r.verdict.class;
    const attempts = (prior?.[r.address]?.attempts ?? attempt - 1) + (cls === 'relay_problem' ? 0 : 1);
    const status: RecipientState =
      cls === 'accepted'
        ? 'accepted'
        : cls === 'recipient_permanent'
          ? 'refused'
          : cls === 'message_permanent'
            ? 'failed'
            : cls === 'transient'
              ? attempts >= message.max_attempts
                ? 'failed'
                : 'deferred'
              : relayExpired
                ? 'failed'
                : 'deferred';
    const entry: RecipientStatus = {
      kind: kindOf(r.address),
      status,
      code: r.code,
      enhanced: r.enhanced,
      response: r.response,
      attempts,
      at,
    };
    if (r.verdict.relayProblem) entry.relay_problem = r.verdict.relayProblem;
    map[r.address] = entry;
    attemptResults.push({ address: r.address, ...pick(entry) });
  }
  // Withheld: settled for this message, no attempt spent on them.
  const withheld: WithheldRecipient[] = (input.withheld ?? []).map(({ address, reason }) => {
    const kind = kindOf(address);
    map[address] = {
      kind,
      status: 'suppressed',
      code: null,
      enhanced: null,
      response: reason,
      attempts: prior?.[address]?.attempts ?? attempt - 1,
      at,
    };
    return { address, kind, reason };
  });

  const all = envelope.map((a) => map[a]?.status ?? 'deferred');
  const acceptedCount = all.filter((s) => s === 'accepted').length;
  const sentTo = all.filter((s) => s !== 'suppressed').length;
  const status: FinalStatus = all.includes('deferred')
    ? 'queued'
    : acceptedCount === 0
      ? 'failed'
      : acceptedCount === sentTo
        ? 'sent'
        : 'partially_sent';

  const headline = headlineOf(outcome, found);
  const record: AttemptRecord = {
    attempt,
    code: headline.code,
    response: headline.response,
    duration_ms: at - input.started,
  };
  if (outcome.type === 'failure') {
    record.error_code = errorCodeOf(outcome);
    record.phase = outcome.phase;
  }
  if (relayKind) record.relay_problem = relayKind;
  if (envelope.length > 1) record.recipients = attemptResults;
  if (withheld.length) record.withheld = withheld;
  if (outcome.relay) record.relay = outcome.relay;

  const data = outcome.type === 'transaction' ? outcome.data : null;
  const acceptedNow = attemptResults.filter((r) => r.status === 'accepted');
  const final = status !== 'queued';
  const completion: Completion = {
    status,
    at,
    attempt: record,
    counted,
    smtpResponse: found.length === 0 && message.smtp_response ? message.smtp_response : headline.response,
    providerMessageId: data && isOk(data.code) ? providerMessageId(data.response) : null,
    sentAt: status === 'sent' || status === 'partially_sent' ? at : null,
    nextAttemptAt: null,
    errorMessage: null,
    recipientStatus: envelope.length > 1 ? map : null,
    relayProblemSince: final ? null : relayProblemSince,
    partial: null,
    relay: relayObservation(outcome, relayResults),
  };
  if (status === 'queued') {
    completion.nextAttemptAt =
      at + (counted ? retryDelay(attempt, backoff, random) : relayRetryDelay(at - relayProblemSince!, backoff, random));
    if (acceptedNow.length > 0) {
      const summary = (a: string): RecipientResult => ({ address: a, ...pick(map[a]!) });
      completion.partial = {
        accepted: envelope.filter((a) => map[a]?.status === 'accepted').map(summary),
        deferred: envelope.filter((a) => (map[a]?.status ?? 'deferred') === 'deferred').map(summary),
      };
    }
  } else if (status !== 'sent') {
    completion.errorMessage = errorMessageOf(status, found, map, envelope, {
      attempt,
      relayExpired,
      relayKind,
      maxMs: input.relayProblemMaxMs,
      outcome,
    });
  }
  return completion;
}

/**
 * The message's `to` is on the suppression list and nobody has got the message yet: it is not
 * sent at all (nor to its cc/bcc), and ends as accept leaves a suppressed recipient's message:
 * status `suppressed`, the reason in error_message, a `suppressed` event (see store.ts), the
 * content dropped. No attempt happened: none is recorded or counted (the lease's increment is
 * undone), and the relay's reply of an earlier attempt, if any, stays. A stored recipient map
 * says the `to` is suppressed; its other owed recipients show as not sent.
 */
export function suppressedCompletion(
  message: Pick<MessageRow, 'attempts' | 'recipient_status' | 'recipient_email' | 'smtp_response'>,
  reason: string,
  at: number,
): Completion {
  const prior = parseRecipientStatus(message.recipient_status);
  const to = prior ? (Object.keys(prior).find((a) => prior[a]!.kind === 'to') ?? message.recipient_email) : null;
  return {
    status: 'suppressed',
    at,
    attempt: { attempt: message.attempts, code: null, response: reason, duration_ms: 0 },
    counted: false,
    smtpResponse: message.smtp_response ?? null,
    providerMessageId: null,
    sentAt: null,
    nextAttemptAt: null,
    errorMessage: reason,
    recipientStatus:
      prior && to
        ? {
            ...prior,
            [to]: {
              kind: 'to',
              status: 'suppressed',
              code: null,
              enhanced: null,
              response: reason,
              attempts: prior[to]?.attempts ?? message.attempts - 1,
              at,
            },
          }
        : null,
    relayProblemSince: null,
    partial: null,
    relay: null,
  };
}

function pick(s: RecipientStatus): Omit<RecipientResult, 'address'> {
  const { kind, status, code, enhanced, response } = s;
  return {
    kind,
    status,
    code,
    enhanced,
    response,
    ...(s.relay_problem ? { relay_problem: s.relay_problem as RelayProblemKind } : {}),
  };
}

/** The reply that sums the attempt up: the final dot's, the failure's, else the first refusal. */
function headlineOf(outcome: SmtpOutcome, found: Result[]): ReplyFacts {
  if (outcome.type === 'failure') return { code: outcome.code, enhanced: outcome.enhanced, response: outcome.response };
  if (outcome.data) return outcome.data;
  const refused = found.find((r) => r.verdict.class !== 'accepted') ?? found[0];
  return refused
    ? { code: refused.code, enhanced: refused.enhanced, response: refused.response }
    : { code: null, enhanced: null, response: '' };
}

function relayObservation(outcome: SmtpOutcome, relayResults: Result[]): RelayObservation {
  if (relayResults.length) {
    const r = relayResults[0]!;
    const where = outcome.type === 'failure' ? `${outcome.phase}: ` : '';
    return {
      state: 'problem',
      kind: r.verdict.relayProblem!,
      text: r.code !== null ? r.response : `${where}${r.response}`,
    };
  }
  // The relay answered inside a transaction: it works (whatever it thought of this message).
  if (outcome.type === 'transaction') return { state: 'ok' };
  if (outcome.kind === 'reply' && ['mail', 'rcpt', 'data', 'data_end'].includes(outcome.phase)) return { state: 'ok' };
  return null;
}

/**
 * The next try after a relay problem. Attempts are not spent, so the delay grows with how long
 * the problem has lasted (about as long again, with jitter), between the base and the cap.
 */
function relayRetryDelay(lastedMs: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.maxMs, Math.max(policy.baseMs, lastedMs));
  return Math.round(step / 2 + random() * (step / 2));
}

function reasonOf(r: Pick<ReplyFacts, 'code' | 'response'>, outcome: SmtpOutcome): string {
  if (r.code !== null) return r.response;
  return outcome.type === 'failure' ? `${errorCodeOf(outcome)}: ${r.response}` : r.response;
}

/** 48 h, 90 min, 2 s: how long relay problems were allowed to last, in an error message. */
function duration(ms: number): string {
  if (ms >= 3_600_000) return `${Math.round(ms / 360_000) / 10} h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 1000)} s`;
}

/** Recipients not delivered that an error message names. */
const MISSED_LISTED = 5;

function errorMessageOf(
  status: FinalStatus,
  found: Result[],
  map: RecipientStatusMap,
  envelope: string[],
  ctx: {
    attempt: number;
    relayExpired: boolean;
    relayKind: RelayProblemKind | undefined;
    maxMs: number;
    outcome: SmtpOutcome;
  },
): string {
  const ended = found.filter((r) => r.verdict.class !== 'accepted');
  const last = ended[0] ?? found[0];
  const reason = last ? reasonOf(last, ctx.outcome) : 'no recipient left';
  const why =
    last && (last.verdict.class === 'recipient_permanent' || last.verdict.class === 'message_permanent')
      ? `Permanent failure on attempt ${ctx.attempt}: ${reason}`
      : ctx.relayExpired && last?.verdict.class === 'relay_problem'
        ? `Relay problem (${ctx.relayKind}) for ${duration(ctx.maxMs)}, gave up; last: ${reason}`
        : `Gave up after ${ctx.attempt} attempts; last: ${reason}`;
  if (status === 'failed' && envelope.length === 1) return why;
  const accepted = envelope.filter((a) => map[a]?.status === 'accepted').length;
  const notAccepted = envelope.filter((a) => map[a]?.status !== 'accepted');
  // The first few only: each recipient's reply is in recipient_status, and a message may have
  // a thousand recipients refused with a 2,000-character reply each.
  const missed = notAccepted
    .slice(0, MISSED_LISTED)
    .map((a) => `${a} (${map[a]?.status ?? 'failed'}: ${map[a]?.response ?? ''})`);
  if (notAccepted.length > MISSED_LISTED) missed.push(`and ${notAccepted.length - MISSED_LISTED} more`);
  return `${accepted} of ${envelope.length} recipients accepted; not delivered: ${missed.join('; ')}. ${why}`;
}
