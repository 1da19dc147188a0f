import type { Insertable, Kysely } from 'kysely';
import type pino from 'pino';
import { insertRows } from '../platform/db/reused-sql.js';
import type { DB, MessageRow } from '../platform/db/schema.js';

/** One row per thing that happens to a message: queued, each attempt, sent, bounced, … */
export interface NewEvent {
  messageId: string;
  type: string;
  at: number;
  data?: Record<string, unknown>;
  /**
   * The message's labels, when the producer has its row at hand (not stored): subscribers read
   * them from here, never from the database.
   */
  labels?: EventLabels;
}

/** What subscribers may know of an event's message: metrics labels, and its age for `sent`. */
export type EventLabels = Pick<MessageRow, 'template_key' | 'category' | 'created_at'>;

/**
 * Hears the events of every record() in this process, synchronously, right after their insert
 * statement and before the caller's transaction commits. It gets the events, never the
 * transaction: it observes, it cannot write. A subscriber may therefore see events that a
 * rollback then undoes (fine for counters; anything that must be exact reads the log instead, as
 * the webhook dispatcher does). It must be quick: it runs on the recording path.
 */
export type EventSubscriber = (events: readonly NewEvent[]) => void;

/**
 * The event log: record() inserts the rows (one statement for a batch) in the caller's
 * transaction, then tells the subscribers registered at wiring time. A subscriber that throws is
 * logged and skipped: nothing it does can reach or abort the caller's transaction.
 */
/** The rows record() inserts for `events`: for a statement of the caller's own that inserts them (then call recordedElsewhere). */
export function eventRows(events: readonly NewEvent[]): Array<Insertable<DB['email_events']>> {
  return events.map((e) => ({
    message_id: e.messageId,
    type: e.type,
    created_at: e.at,
    data: e.data ? JSON.stringify(e.data) : null,
  }));
}

export class EventLog {
  private readonly subscribers: Array<{ name: string; fn: EventSubscriber }> = [];

  constructor(private readonly log: pino.Logger) {}

  subscribe(name: string, fn: EventSubscriber): void {
    this.subscribers.push({ name, fn });
  }

  async record(db: Kysely<DB>, events: NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    await insertRows(db, 'email_events', eventRows(events));
    this.recordedElsewhere(events);
  }

  /**
   * Tells the subscribers of events a statement of the caller's own inserted (a PostgreSQL lease
   * writes its `sending` events in the same statement), as record() does after its insert.
   */
  recordedElsewhere(events: readonly NewEvent[]): void {
    if (events.length === 0) return;
    for (const s of this.subscribers) {
      try {
        // A subscriber typed as returning nothing may still be async: its rejection is caught too.
        const r = s.fn(events) as unknown;
        if (r instanceof Promise) r.catch((err: unknown) => this.failed(s.name, err));
      } catch (err) {
        this.failed(s.name, err);
      }
    }
  }

  private failed(subscriber: string, err: unknown): void {
    this.log.error({ err, subscriber }, 'event subscriber failed; the events are recorded');
  }
}
