import type { MessageRow } from '../db/schema.js';
import { type BackoffPolicy, retryDelay } from './backoff.js';
import { providerMessageId, replyCode, type SmtpOutcome } from './smtp-reply.js';

/**
 * One attempt at one leased message: build (or reuse) its MIME, hand it to SMTP, decide what
 * the reply means, record it. Pure logic over injected parts, so the rules are tested with a
 * real SMTP server but without the worker loop around them.
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
  /** The message reached a final state: its MIME will not be needed again. */
  forget(messageId: string): void;
}

export interface SmtpTransport {
  send(envelope: Envelope, raw: Buffer): Promise<SmtpOutcome>;
  close(): void;
}

export type FinalStatus = 'sent' | 'queued' | 'failed';

/** What to write, in one transaction, once an attempt is over. */
export interface Completion {
  status: FinalStatus;
  at: number;
  attempt: { attempt: number; code: number | null; response: string; duration_ms: number; error_code?: string; rejected?: string[] };
  smtpResponse: string | null;
  providerMessageId: string | null;
  sentAt: number | null;
  nextAttemptAt: number | null;
  errorMessage: string | null;
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
  backoff: BackoffPolicy;
  now?: () => number;
  random?: () => number;
}

/** A message that can never be built (attachment bytes purged, …): no retry will help. */
export class PermanentBuildError extends Error {}

export interface ProcessResult {
  completion: Completion;
  applied: boolean;
}

export async function processMessage(message: MessageRow, deps: ProcessDeps): Promise<ProcessResult> {
  const completion = await attemptDelivery(message, deps);
  return { completion, applied: await recordAttempt(message, completion, deps) };
}

/** Build (or reuse) the MIME, send it, decide what the reply means. Records nothing. */
export async function attemptDelivery(message: MessageRow, deps: Omit<ProcessDeps, 'store' | 'owner'>): Promise<Completion> {
  const now = deps.now ?? Date.now;
  const started = now();
  let outcome: SmtpOutcome;
  try {
    const built = await deps.mime.get(message);
    outcome = await deps.transport.send(built.envelope, built.raw);
  } catch (e) {
    // Nothing was sent. A message that can never be built fails now; anything else (the
    // database hiccuped while loading attachments, …) is an ordinary failed attempt.
    const text = e instanceof Error ? e.message : String(e);
    outcome = { ok: false, code: null, response: text, errorCode: 'EBUILD', permanent: e instanceof PermanentBuildError };
  }
  return decide(message, outcome, started, now(), deps.backoff, deps.random);
}

/** Writes the outcome (conditional on the lease); the MIME is dropped once the message is final. */
export async function recordAttempt(message: MessageRow, completion: Completion, deps: Pick<ProcessDeps, 'store' | 'owner' | 'mime'>): Promise<boolean> {
  const applied = await completeWithRetry(deps, message, completion);
  if (completion.status !== 'queued') deps.mime.forget(message.id);
  return applied;
}

/**
 * The send is done, so recording it is worth a few tries (a database failover takes seconds).
 * If it still fails the error propagates: the lease expires and the message is sent again,
 * with the same Message-ID (at-least-once, never lost).
 */
async function completeWithRetry(deps: Pick<ProcessDeps, 'store' | 'owner'>, message: MessageRow, completion: Completion): Promise<boolean> {
  for (let i = 0; ; i++) {
    try {
      return await deps.store.complete(message, deps.owner, completion);
    } catch (e) {
      if (i >= 4) throw e;
      await new Promise((r) => setTimeout(r, 250 * 2 ** i));
    }
  }
}

/**
 * The rules: 2xx is sent; 5xx fails at once; anything else (4xx, timeout, broken connection)
 * is retried with backoff until the message's attempts are spent. `message.attempts` already
 * counts this attempt (the lease increments it).
 */
export function decide(
  message: Pick<MessageRow, 'attempts' | 'max_attempts'>,
  outcome: SmtpOutcome,
  started: number,
  at: number,
  backoff: BackoffPolicy,
  random?: () => number,
): Completion {
  const attempt = message.attempts;
  const base = { at, smtpResponse: outcome.response, providerMessageId: null, sentAt: null, nextAttemptAt: null, errorMessage: null };
  if (outcome.ok) {
    return {
      ...base,
      status: 'sent',
      attempt: { attempt, code: outcome.code || replyCode(outcome.response), response: outcome.response, duration_ms: at - started, ...(outcome.rejected.length ? { rejected: outcome.rejected } : {}) },
      providerMessageId: providerMessageId(outcome.response),
      sentAt: at,
    };
  }
  const record = { attempt, code: outcome.code, response: outcome.response, duration_ms: at - started, ...(outcome.errorCode ? { error_code: outcome.errorCode } : {}) };
  const reason = outcome.code !== null ? `${outcome.response}` : `${outcome.errorCode ?? 'error'}: ${outcome.response}`;
  if (outcome.permanent) {
    return { ...base, status: 'failed', attempt: record, errorMessage: `Permanent failure on attempt ${attempt}: ${reason}` };
  }
  if (attempt >= message.max_attempts) {
    return { ...base, status: 'failed', attempt: record, errorMessage: `Gave up after ${attempt} attempts; last: ${reason}` };
  }
  return { ...base, status: 'queued', attempt: record, nextAttemptAt: at + retryDelay(attempt, backoff, random) };
}
