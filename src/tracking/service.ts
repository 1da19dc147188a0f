import type { Kysely } from 'kysely';
import type { EventLog } from '../events/index.js';
import type { CommitQueue } from '../platform/db/commit-queue.js';
import type { DB } from '../platform/db/schema.js';
import { trackingEvents } from '../platform/metrics.js';
import { BURST_MS, classifyClick, classifyOpen } from './classify.js';
import type { TrackingClaim } from './token.js';

/** Events of one message past which opens and clicks are counted in /metrics only (a mail reopened all day). */
export const MAX_EVENTS_PER_MESSAGE = 50;

/**
 * Records waiting in this process for one message, and for all: past them a request is answered
 * and not recorded. The pixel and the redirect never wait for the record, so without a bound a
 * flood on one token (thousands of opens a second) queued records in memory faster than the
 * database decided them, without limit.
 */
export const MAX_PENDING_PER_MESSAGE = 16;
export const MAX_PENDING = 1000;

const TYPES = ['opened', 'clicked', 'opened_by_machine', 'clicked_by_machine'] as const;

/**
 * The link's origin only: the path and query may carry what a template marks sensitive (an
 * activation token in `/activate/{{ token }}`), and the link's position says which link it was.
 */
export function linkOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}

/**
 * Records an open or a click as an event of its message: `opened`/`clicked` when a person did it,
 * `opened_by_machine`/`clicked_by_machine` with the reason otherwise (classify.ts). Never the IP
 * address or the user agent itself: the kind of agent only. A message gone from the archive
 * records nothing (its link still works).
 */
export class TrackingService {
  /** The record in progress per message: one message's events are decided one after the other. */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Records not yet decided, per message and in all (MAX_PENDING_PER_MESSAGE, MAX_PENDING). */
  private readonly waiting = new Map<string, number>();
  private waitingInAll = 0;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly commits: CommitQueue,
    private readonly events: EventLog,
  ) {}

  /**
   * One message's opens and clicks are decided in turn in this process, each after the previous
   * one's event is written: a scanner following every link at once is then seen as a burst.
   */
  record(kind: 'open' | 'click', claim: TrackingClaim, userAgent: string, now = Date.now()): Promise<string | null> {
    const mine = this.waiting.get(claim.messageId) ?? 0;
    // A flood: answered, not recorded (a person does not open one mail 16 times at once).
    if (mine >= MAX_PENDING_PER_MESSAGE || this.waitingInAll >= MAX_PENDING) return Promise.resolve(null);
    this.waiting.set(claim.messageId, mine + 1);
    this.waitingInAll++;
    const before = this.chains.get(claim.messageId) ?? Promise.resolve();
    const run = before.then(
      () => this.recordNow(kind, claim, userAgent, now),
      () => this.recordNow(kind, claim, userAgent, now),
    );
    this.chains.set(claim.messageId, run);
    void run
      .finally(() => {
        if (this.chains.get(claim.messageId) === run) this.chains.delete(claim.messageId);
        const left = (this.waiting.get(claim.messageId) ?? 1) - 1;
        if (left > 0) this.waiting.set(claim.messageId, left);
        else this.waiting.delete(claim.messageId);
        this.waitingInAll--;
      })
      .catch(() => {});
    return run;
  }

  private async recordNow(
    kind: 'open' | 'click',
    claim: TrackingClaim,
    userAgent: string,
    now: number,
  ): Promise<string | null> {
    const message = await this.db
      .selectFrom('email_messages')
      .select(['id', 'status', 'sent_at', 'template_key', 'category', 'created_at'])
      .where('id', '=', claim.messageId)
      .executeTakeFirst();
    if (!message) return null;
    const earlier = await this.db
      .selectFrom('email_events')
      .select(['type', 'data', 'created_at'])
      .where('message_id', '=', message.id)
      .where('type', 'in', [...TYPES])
      .orderBy('id', 'desc')
      .limit(MAX_EVENTS_PER_MESSAGE)
      .execute();
    const sentAt = message.sent_at === null ? null : Number(message.sent_at);
    let type: string;
    let data: Record<string, unknown>;
    if (kind === 'open') {
      const v = classifyOpen(userAgent, sentAt, now);
      type = v.counted ? 'opened' : 'opened_by_machine';
      data = v.counted ? { agent: v.agent } : { reason: v.reason };
    } else {
      const recentLinks = new Set(
        earlier
          .filter((e) => e.type.startsWith('clicked') && now - Number(e.created_at) < BURST_MS)
          .map((e) => (JSON.parse(e.data ?? '{}') as { link?: number }).link)
          .filter((l) => l !== claim.link),
      ).size;
      const v = classifyClick(userAgent, sentAt, now, recentLinks);
      type = v.counted ? 'clicked' : 'clicked_by_machine';
      data = {
        link: claim.link,
        url: linkOrigin(claim.url ?? ''),
        ...(v.counted ? { agent: v.agent } : { reason: v.reason }),
      };
    }
    trackingEvents.inc({ type });
    if (earlier.length >= MAX_EVENTS_PER_MESSAGE) return type;
    // The status it leaves is the one it found (webhooks say so): an open changes no status.
    data.status_unchanged = message.status;
    await this.commits.run((trx) =>
      this.events.record(trx, [{ messageId: message.id, type, at: now, data, labels: message }]),
    );
    return type;
  }
}
