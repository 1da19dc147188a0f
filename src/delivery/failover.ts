import type pino from 'pino';
import { smtpFailovers } from '../platform/metrics.js';
import type { SmtpOutcome } from './outcome.js';
import type { Envelope, SendHooks, SmtpTransport } from './process-message.js';
import type { RelayMonitor } from './relay-status.js';
import { classifyReply, type RelayProblemKind } from './smtp-reply.js';

/** One relay of the failover list: its name (relay_status, metrics, attempt events) and address. */
export interface NamedTransport {
  name: string;
  address: string;
  transport: SmtpTransport;
}

/**
 * Phases that end before any byte of the message was sent (`data` is the DATA command, waiting
 * for its 354): failing over cannot send it twice.
 */
const BEFORE_BYTES = new Set(['connect', 'greeting', 'ehlo', 'starttls', 'auth', 'mail', 'rcpt', 'data']);

/**
 * The relay problem that lets a send go on to the next relay: one met before the message's
 * bytes were sent (no connection, refused session, TLS or login failure, our sender refused,
 * relaying denied for every recipient, a 421 or a silence to DATA). Anything else is the relay's
 * answer about this message (a recipient refused, a 4xx, a failure after the bytes went) and
 * stays with it: sending that message elsewhere could deliver it twice or hide a refusal.
 */
export function failoverProblem(outcome: SmtpOutcome): { kind: RelayProblemKind; text: string } | null {
  if (outcome.type === 'failure') {
    if (outcome.phase === 'build' || outcome.kind === 'build' || !BEFORE_BYTES.has(outcome.phase)) return null;
    const c = classifyReply({ ...outcome, phase: outcome.phase, kind: outcome.kind, text: outcome.response });
    return c.relayProblem ? { kind: c.relayProblem, text: outcome.response } : null;
  }
  if (outcome.data !== null || outcome.recipients.length === 0) return null;
  let first: { kind: RelayProblemKind; text: string } | null = null;
  for (const r of outcome.recipients) {
    const c = classifyReply({ phase: 'rcpt', kind: 'reply', code: r.code, enhanced: r.enhanced, text: r.response });
    if (!c.relayProblem) return null;
    first ??= { kind: c.relayProblem, text: r.response };
  }
  return first;
}

/**
 * The relay and its fallbacks (SMTP_FALLBACK_URLS) as one transport. A send goes to the first
 * relay not cooling down; a relay problem met before the message's bytes were sent moves it to
 * the next one at once (same attempt, no attempt spent), and that relay is passed by for
 * `cooldownMs`, after which the next send tries it again. When every relay has a problem the
 * last one's outcome is returned: the message stays queued like any relay problem. The outcome
 * names the relay that produced it (`relay`), which the attempt event records.
 */
export class FailoverTransport implements SmtpTransport {
  private readonly downUntil = new Map<string, number>();

  constructor(
    private readonly relays: NamedTransport[],
    private readonly opts: { cooldownMs: number; monitor?: RelayMonitor; log: pino.Logger; now?: () => number },
  ) {}

  /** Relays not cooling down in their configured order, then those cooling down, soonest back first. */
  order(now: number): NamedTransport[] {
    const down = (r: NamedTransport) => (this.downUntil.get(r.name) ?? 0) > now;
    return [
      ...this.relays.filter((r) => !down(r)),
      ...this.relays.filter(down).sort((a, b) => this.downUntil.get(a.name)! - this.downUntil.get(b.name)!),
    ];
  }

  async send(envelope: Envelope, raw: Buffer, hooks?: SendHooks): Promise<SmtpOutcome> {
    const now = this.opts.now ?? Date.now;
    const order = this.order(now());
    for (let i = 0; ; i++) {
      const relay = order[i]!;
      const outcome = await relay.transport.send(envelope, raw, hooks);
      const problem = failoverProblem(outcome);
      if (!problem) this.downUntil.delete(relay.name);
      const next = order[i + 1];
      if (!problem || !next) return { ...outcome, relay: relay.name };
      this.downUntil.set(relay.name, now() + this.opts.cooldownMs);
      this.opts.monitor?.observe({ state: 'problem', kind: problem.kind, text: problem.text }, now(), relay.name);
      smtpFailovers.inc({ from: relay.name, to: next.name, kind: problem.kind });
      this.opts.log.warn(
        { from: relay.name, to: next.name, kind: problem.kind, reply: problem.text },
        'SMTP relay problem: sending through the next relay',
      );
      // Waiting for the next relay's connection: the first relay's deadline must not end the lease.
      hooks?.onWaiting?.();
    }
  }

  close(): void {
    for (const r of this.relays) r.transport.close();
  }
}
