import type { MessageRow } from '../platform/db/schema.js';
import type { BackoffPolicy } from './backoff.js';
import { type Completion, decide, suppressedCompletion } from './decide.js';
import { replyText, type SmtpOutcome } from './outcome.js';
import { entryOf, owedRecipients, parseRecipientStatus } from './recipient-status.js';
import { countWithheld } from './withheld.js';

export type {
  AttemptRecord,
  Completion,
  FinalStatus,
  RecipientResult,
  RelayObservation,
  WithheldRecipient,
} from './decide.js';

/**
 * One attempt at one leased message: build (or reuse) its MIME, hand it to SMTP for the
 * recipients still owed, decide what the replies mean, record it. Pure logic over injected
 * parts, so the rules are tested with a real SMTP server but without the worker loop around them.
 */

export interface Envelope {
  from: string;
  to: string[];
}

export interface BuiltMessage {
  envelope: Envelope;
  raw: Buffer;
}

export interface MimeSource {
  get(message: MessageRow): Promise<BuiltMessage>;
  /** Reads ahead what the builds of a leased batch need (one query rather than one per message). */
  prefetch?(messages: MessageRow[]): Promise<void>;
  /**
   * Bytes building and sending `message` will hold at most (0 when small), from what prefetch
   * read: see WORKER_MAX_BUILD_MB.
   */
  estimate?(message: MessageRow): number;
  /** The message reached a final state: its MIME will not be needed again. */
  forget(messageId: string): void;
}

/** Why the list stops an address of the message (any spelling of its to, cc or bcc), or undefined. */
export type RecipientVerdict = (address: string) => string | undefined;

/**
 * Which recipients must not be sent to now (the suppression list: see withheld.ts): the `to`
 * (suppressed since accept) and the cc/bcc (never judged at accept).
 */
export interface RecipientGate {
  /** Reads ahead the verdicts of a leased batch (one query). */
  prefetch?(messages: MessageRow[]): Promise<void>;
  /** The verdict on the message's recipients for this attempt (read ahead, or asked now). */
  judge(message: MessageRow): Promise<RecipientVerdict>;
}

export interface SendHooks {
  /**
   * The SMTP part of the attempt starts now (it had to wait for a free connection until then);
   * `deadlineMs` bounds all of it: the sum of its phases' deadlines.
   */
  onStart?(deadlineMs: number): void;
  /**
   * The send waits for a connection again, on the next relay (failover): the deadline given by
   * onStart no longer runs until that relay's onStart; nothing of the message has been sent.
   */
  onWaiting?(): void;
}

export interface SmtpTransport {
  send(envelope: Envelope, raw: Buffer, hooks?: SendHooks): Promise<SmtpOutcome>;
  close(): void;
}

export interface CompletionStore {
  /**
   * Applies the completion only if this worker still holds the lease; false when it was lost
   * (expired and taken by another worker), in which case nothing but the attempt is recorded.
   */
  complete(message: MessageRow, owner: string, completion: Completion): Promise<boolean>;
}

export interface ProcessDeps {
  owner: string;
  mime: MimeSource;
  transport: SmtpTransport;
  store: CompletionStore;
  /** Recipients withheld (suppressed), or the whole message when its `to` is; none: every recipient is sent to. */
  recipients?: RecipientGate;
  backoff: BackoffPolicy;
  /** How long a message may meet nothing but relay problems before it fails (RELAY_PROBLEM_MAX_HOURS). */
  relayProblemMaxMs: number;
  now?: () => number;
  random?: () => number;
}

/** A message that can never be built (attachment bytes purged, …): no retry will help. */
export class PermanentBuildError extends Error {}

export interface ProcessResult {
  completion: Completion;
  applied: boolean;
}

export async function processMessage(
  message: MessageRow,
  deps: ProcessDeps,
  hooks?: SendHooks,
): Promise<ProcessResult> {
  const completion = await attemptDelivery(message, deps, hooks);
  return { completion, applied: await recordAttempt(message, completion, deps) };
}

/**
 * Build (or reuse) the MIME, send it to the recipients still owed, decide what the replies mean.
 * Records nothing. The MIME is the same on every attempt (To and Cc headers included); only the
 * envelope shrinks to the recipients not yet accepted, refused or given up, and leaves out those
 * the suppression list stops now (withheld: no RCPT TO; the Cc header stays as written). A
 * message whose `to` the list stops before anyone got it is not built nor sent at all: it ends
 * `suppressed`, as accept would have stored it (see suppressedCompletion).
 */
export async function attemptDelivery(
  message: MessageRow,
  deps: Omit<ProcessDeps, 'store' | 'owner'>,
  hooks?: SendHooks,
): Promise<Completion> {
  const now = deps.now ?? Date.now;
  const started = now();
  let outcome: SmtpOutcome;
  let envelope: string[] = [message.recipient_email];
  let owed = envelope;
  let withheld: Array<{ address: string; reason: string }> = [];
  try {
    const verdict = deps.recipients ? await deps.recipients.judge(message) : undefined;
    const toStopped = verdict?.(message.recipient_email);
    if (toStopped && !tooLateToStop(message)) {
      countWithheld([{ kind: 'to' }]);
      return suppressedCompletion(message, toStopped, now());
    }
    const built = await deps.mime.get(message);
    envelope = built.envelope.to;
    owed = owedRecipients(envelope, parseRecipientStatus(message.recipient_status));
    if (verdict) {
      withheld = owed.flatMap((address) => {
        const reason = verdict(address);
        return reason ? [{ address, reason }] : [];
      });
      if (withheld.length) owed = owed.filter((a) => !verdict(a));
    }
    // Nobody left to send to (every recipient settled, the status not yet): settle the status.
    outcome = owed.length
      ? await deps.transport.send({ from: built.envelope.from, to: owed }, built.raw, hooks)
      : { type: 'transaction', recipients: [], data: null };
  } catch (e) {
    // Nothing was sent. A message that can never be built fails now; anything else (the
    // database hiccuped while loading attachments or reading the suppression list, …) is an
    // ordinary failed attempt.
    const text = replyText(e instanceof Error ? e.message : String(e));
    outcome = {
      type: 'failure',
      phase: 'build',
      kind: 'build',
      code: null,
      enhanced: null,
      response: text,
      permanent: e instanceof PermanentBuildError,
    };
  }
  const { backoff, relayProblemMaxMs, random } = deps;
  const completion = decide({
    message,
    envelope,
    owed,
    withheld,
    outcome,
    started,
    at: now(),
    backoff,
    relayProblemMaxMs,
    random,
  });
  // Counted as the send leaves them out (before it is recorded: a lost lease does not unsend it).
  if (completion.attempt.withheld) countWithheld(completion.attempt.withheld);
  return completion;
}

/**
 * Whether the message is past stopping: a recipient accepted it in an earlier attempt (it went
 * out; a `to` suppressed since is then withheld like a cc), or its `to` is settled already
 * (accepted, refused, given up: not owed, so not asked about again; its cc/bcc still owed go on).
 */
function tooLateToStop(message: Pick<MessageRow, 'recipient_status' | 'recipient_email'>): boolean {
  const prior = parseRecipientStatus(message.recipient_status);
  if (!prior) return false;
  const to = entryOf(prior, message.recipient_email);
  if (to && to.status !== 'deferred') return true;
  return Object.values(prior).some((r) => r.status === 'accepted');
}

/** Writes the outcome (conditional on the lease); the MIME is dropped once the message is final. */
export async function recordAttempt(
  message: MessageRow,
  completion: Completion,
  deps: Pick<ProcessDeps, 'store' | 'owner' | 'mime'>,
): Promise<boolean> {
  const applied = await completeWithRetry(deps, message, completion);
  if (completion.status !== 'queued') deps.mime.forget(message.id);
  return applied;
}

/**
 * The send is done, so recording it is worth a few tries (a database failover takes seconds).
 * If it still fails the error propagates: the lease expires and the message is sent again,
 * with the same Message-ID (at-least-once, never lost).
 */
async function completeWithRetry(
  deps: Pick<ProcessDeps, 'store' | 'owner'>,
  message: MessageRow,
  completion: Completion,
): Promise<boolean> {
  for (let i = 0; ; i++) {
    try {
      return await deps.store.complete(message, deps.owner, completion);
    } catch (e) {
      if (i >= 4) throw e;
      await new Promise((r) => setTimeout(r, 250 * 2 ** i));
    }
  }
}
