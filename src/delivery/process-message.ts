import type { MessageRow } from '../platform/db/schema.js';
import type { BackoffPolicy } from './backoff.js';
import { type Completion, decide } from './decide.js';
import { replyText, type SmtpOutcome } from './outcome.js';
import { owedRecipients, parseRecipientStatus, recipientKinds } from './recipient-status.js';
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

/**
 * Which cc/bcc recipients must not be sent to now (the suppression list: see withheld.ts). `to`
 * is never asked about: accept judged it.
 */
export interface RecipientGate {
  /** Reads ahead the verdicts of a leased batch (one query, none when no message has cc/bcc). */
  prefetch?(messages: MessageRow[]): Promise<void>;
  /** Those of `addresses` (envelope spellings of the message's cc/bcc) to withhold, with why. */
  withheld(message: MessageRow, addresses: string[]): Promise<Map<string, string>>;
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
  /** cc/bcc withheld from the envelope (suppressed); none: every recipient is sent to. */
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
 * envelope shrinks to the recipients not yet accepted, refused or given up, and leaves out the
 * cc/bcc the suppression list stops now (withheld: no RCPT TO; the Cc header stays as written).
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
    const built = await deps.mime.get(message);
    envelope = built.envelope.to;
    owed = owedRecipients(envelope, parseRecipientStatus(message.recipient_status));
    // The common message has no cc/bcc: no question asked.
    if (deps.recipients && (message.cc || message.bcc)) {
      const kindOf = recipientKinds(message);
      const asked = owed.filter((a) => kindOf(a) !== 'to');
      const stopped = asked.length ? await deps.recipients.withheld(message, asked) : new Map<string, string>();
      withheld = asked.filter((a) => stopped.has(a)).map((address) => ({ address, reason: stopped.get(address)! }));
      if (withheld.length) owed = owed.filter((a) => !stopped.has(a));
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
