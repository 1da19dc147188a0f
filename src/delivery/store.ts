import { type ExpressionBuilder, type Kysely, type QueryCreator, sql, type Transaction } from 'kysely';
import type { CommitQueue } from '../platform/db/commit-queue.js';
import { reusedStatement } from '../platform/db/reused-sql.js';
import type { Dialect } from '../platform/db/database.js';
import type { DB, MessageRow } from '../platform/db/schema.js';
import { storable } from '../platform/storable.js';
import { type EventLog, eventRows, type NewEvent } from '../events/index.js';
import type { Completion, CompletionStore } from './process-message.js';

/**
 * The outbox as the worker sees it. Every status change is a conditional update on
 * (status, lease_owner) with its events in the same transaction, so a worker that lost its
 * lease can never overwrite the outcome recorded by the one that took over.
 */
/** A scheduled message as it becomes due: what the suppression list is asked about again. */
export interface DueMessage {
  id: string;
  recipient_email: string;
  class: string;
  category: string;
  template_key: string | null;
}

/**
 * Judges due messages again, in the promoting transaction, in their order: the reason a message
 * may no longer be sent (its address suppressed since it was scheduled), or null.
 */
export type DueCheck = (trx: Transaction<DB>, due: DueMessage[], now: number) => Promise<Array<string | null>>;

/**
 * The event of a message the suppression list stopped after accept, as accept's own `suppressed`
 * event (its reason; no webhook, as for accept): `when` it was stopped, `due` (a scheduled send
 * becoming due) or `delivery` (its `to` suppressed while it waited in the queue or for a retry).
 */
export function suppressedEvent(
  messageId: string,
  reason: string,
  when: 'due' | 'delivery',
  at: number,
  labels?: NewEvent['labels'],
): NewEvent {
  return { messageId, type: 'suppressed', at, data: { reason, when }, ...(labels ? { labels } : {}) };
}

export class DeliveryStore implements CompletionStore {
  constructor(
    readonly db: Kysely<DB>,
    private readonly dialect: Dialect,
    private readonly commits: CommitQueue,
    private readonly events: EventLog,
    private readonly dueCheck?: DueCheck,
  ) {}

  /**
   * Takes up to `limit` due messages, most urgent first. PostgreSQL: FOR UPDATE SKIP LOCKED
   * lets workers lease concurrently without waiting on or double-taking each other's rows.
   * SQLite: one UPDATE … RETURNING, atomic because SQLite has one writer at a time.
   */
  lease(owner: string, limit: number, now: number, leaseMs: number): Promise<MessageRow[]> {
    const sending = (rows: MessageRow[]): NewEvent[] =>
      rows.map((m) => ({ messageId: m.id, type: 'sending', at: now, data: { attempt: m.attempts, worker: owner } }));
    // RETURNING has no order: restore the lease order for the caller.
    const inOrder = (rows: MessageRow[]) =>
      rows.sort((a, b) => a.priority - b.priority || Number(a.next_attempt_at) - Number(b.next_attempt_at));
    if (this.dialect === 'postgres') {
      // One statement, so one transaction and one round trip: the lease and its events (which
      // the statement writes itself) commit together.
      return leaseStatement(this.db, this.dialect, owner, limit, now, leaseMs)
        .execute()
        .then((rows) => {
          this.events.recordedElsewhere(sending(rows));
          return inOrder(rows);
        });
    }
    return this.commits.run(async (trx) => {
      const rows = inOrder(await leaseStatement(trx, this.dialect, owner, limit, now, leaseMs).execute());
      await this.events.record(trx, sending(rows));
      return rows;
    });
  }

  complete(message: MessageRow, owner: string, c: Completion): Promise<boolean> {
    return this.completeMany([{ message, owner, completion: c }]).then(([applied]) => applied!);
  }

  /**
   * Records several finished attempts in one transaction (one commit, one fsync on SQLite).
   * Each status update is still conditional on the lease, message by message.
   */
  completeMany(items: Array<{ message: MessageRow; owner: string; completion: Completion }>): Promise<boolean[]> {
    const updates = items.map(({ message, owner, completion: c }) => completionUpdate(message, owner, c));
    // Each attempt's events: the attempt is always on record, whatever became of the lease; the
    // status change only where the update applied (`ifApplied`). A message stopped by the
    // suppression list had no attempt: its status change only.
    const events = items.flatMap(
      ({ message, completion: c }): Array<{ event: NewEvent; ifApplied: boolean }> => [
        ...(c.status === 'suppressed'
          ? []
          : [
              {
                event: { messageId: message.id, type: 'attempt', at: c.at, data: { ...c.attempt } },
                ifApplied: false,
              },
            ]),
        ...(c.partial
          ? [
              {
                event: {
                  messageId: message.id,
                  type: 'partially_sent',
                  at: c.at,
                  data: { final: false, ...c.partial },
                  labels: message,
                },
                ifApplied: true,
              },
            ]
          : []),
        { event: { ...statusEvent(message.id, c), labels: message }, ifApplied: true },
      ],
    );
    if (this.dialect === 'postgres' && new Set(items.map((i) => i.message.id)).size === items.length) {
      return completeInOneStatement(this.db, updates, events).then((applied) => {
        this.events.recordedElsewhere(recorded(events, updates, applied));
        return applied;
      });
    }
    return this.commits.run(async (trx) => {
      const applied = await completeOneByOne(trx, updates);
      await this.events.record(trx, recorded(events, updates, applied));
      return applied;
    });
  }

  /** Hands leased messages not yet started back (graceful stop); the attempt did not happen. */
  release(owner: string, ids: string[] | 'all', now: number): Promise<string[]> {
    if (ids !== 'all' && ids.length === 0) return Promise.resolve([]);
    return this.commits.run((trx) => this.releaseIn(trx, owner, ids, now, false));
  }

  /**
   * The drain deadline: hands back the sends still in flight, read by `pick` when the
   * transaction runs (a send whose reply came in while it waited for the commit is left to its
   * result, which would otherwise be lost and the message sent again). `begun`: the SMTP
   * exchange had started; the attempt counts and its `released` event says
   * `in_flight_at_drain_deadline`, because the relay may have taken the message already (its
   * answer to the final dot not yet read), and then the retry delivers it twice. `notBegun`:
   * still being built or waiting for a connection; the attempt did not happen.
   */
  releaseInFlight(
    owner: string,
    pick: () => { begun: string[]; notBegun: string[] },
    now: number,
  ): Promise<{ begun: string[]; notBegun: string[] }> {
    return this.commits.run(async (trx) => {
      const { begun, notBegun } = pick();
      return {
        begun: begun.length > 0 ? await this.releaseIn(trx, owner, begun, now, true) : [],
        notBegun: notBegun.length > 0 ? await this.releaseIn(trx, owner, notBegun, now, false) : [],
      };
    });
  }

  private async releaseIn(
    trx: Kysely<DB>,
    owner: string,
    ids: string[] | 'all',
    now: number,
    begun: boolean,
  ): Promise<string[]> {
    const held = (eb: ExpressionBuilder<DB, 'email_messages'>) =>
      eb.and([
        eb('status', '=', 'sending'),
        eb('lease_owner', '=', owner),
        ...(ids === 'all' ? [] : [eb('id', 'in', ids)]),
      ]);
    // A begun send counted its attempt: one past what max_attempts allows is failed, as
    // recoverAbandoned fails it, so a message that hangs every send cannot come back at each stop.
    const failed = begun
      ? await failPastMaxAttempts(
          trx,
          held,
          'The worker stopped during the last attempt allowed (in flight at its drain deadline)',
          now,
        )
      : [];
    const rows = await trx
      .updateTable('email_messages')
      .set({
        status: 'queued',
        lease_owner: null,
        lease_expires_at: null,
        ...(begun ? {} : { attempts: sql<number>`attempts - 1` }),
        next_attempt_at: now,
        updated_at: now,
      })
      .where(held)
      .returning('id')
      .execute();
    const reason = begun ? { reason: 'in_flight_at_drain_deadline' } : {};
    await this.events.record(trx, [
      ...failed.map((r) => ({
        messageId: r.id,
        type: 'failed',
        at: now,
        data: { worker: owner, ...reason },
        labels: r,
      })),
      ...rows.map((r) => ({ messageId: r.id, type: 'released', at: now, data: { worker: owner, ...reason } })),
    ]);
    return [...failed, ...rows].map((r) => r.id);
  }

  /**
   * Extends the leases of the messages this worker still holds (buffered or in flight), so a
   * slow relay does not let another worker take them over. Only those: a message whose result
   * could not be recorded (database outage) is let go, and its lease expires so another attempt
   * happens; renewing every row of this owner kept such messages in 'sending' for ever.
   */
  async renew(owner: string, ids: string[], now: number, leaseMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable('email_messages')
      .set({ lease_expires_at: now + leaseMs })
      .where('status', '=', 'sending')
      .where('lease_owner', '=', owner)
      .where('id', 'in', ids)
      .execute();
  }

  /**
   * Makes scheduled messages whose send_at has come `queued` (leasable). A read first, served by
   * the partial index of scheduled messages, so the frequent call takes no write lock when
   * nothing is due; the update is conditional on the status, so workers racing on the same
   * rows promote each once (and a cancel in between wins).
   */
  async promoteDue(now: number, limit = 1000): Promise<number> {
    const due = await this.db
      .selectFrom('email_messages')
      .select('id')
      .where('status', '=', 'scheduled')
      .where('next_attempt_at', '<=', now)
      .limit(limit)
      .execute();
    if (due.length === 0) return 0;
    return this.commits.run(async (trx) => {
      const rows = await trx
        .updateTable('email_messages')
        .set({ status: 'queued', updated_at: now })
        .where(
          'id',
          'in',
          due.map((r) => r.id),
        )
        .where('status', '=', 'scheduled')
        .returning(['id', 'template_key', 'category', 'created_at', 'recipient_email', 'class'])
        .execute();
      // Scheduled up to 30 days ahead: an address suppressed meanwhile (an unsubscribe, a hard
      // bounce) is not sent to. Judged as a send accepted now would be, in this transaction.
      const reasons = this.dueCheck && rows.length > 0 ? await this.dueCheck(trx, rows, now) : [];
      const stopped = rows.filter((_, i) => reasons[i]);
      for (const [i, r] of rows.entries()) {
        if (!reasons[i]) continue;
        await trx
          .updateTable('email_messages')
          .set({
            status: 'suppressed',
            next_attempt_at: null,
            error_message: reasons[i]!,
            // Never sent, so the clear content has no reader (as for a send suppressed when accepted).
            sealed_content: null,
            updated_at: now,
          })
          .where('id', '=', r.id)
          .execute();
      }
      await this.events.record(
        trx,
        rows.map((r, i) =>
          reasons[i]
            ? suppressedEvent(r.id, reasons[i]!, 'due', now, r)
            : { messageId: r.id, type: 'due', at: now, labels: r },
        ),
      );
      return rows.length - stopped.length;
    });
  }

  /**
   * Makes the messages of workers that stopped mid-send due again: leases that expired, leases of
   * workers that missed their heartbeats since `deadBefore` (or whose row is gone), and leases of
   * the `gone` workers (found dead at start-up). A message that has already used more leases than
   * its attempts allow is failed instead, so a message that crashes every worker that touches it
   * cannot loop forever. A cheap read first: most runs find nothing and write nothing.
   */
  async recoverAbandoned(
    now: number,
    opts: { deadBefore?: number; gone?: string[] } = {},
  ): Promise<{ requeued: number; failed: number }> {
    const abandoned = (eb: ExpressionBuilder<DB, 'email_messages'>) => {
      const why = [eb('lease_expires_at', '<', now)];
      if (opts.gone?.length) why.push(eb('lease_owner', 'in', opts.gone));
      if (opts.deadBefore !== undefined) {
        const deadBefore = opts.deadBefore;
        // Leased before `deadBefore` (a worker registers before it leases) by an owner not heard from since.
        why.push(
          eb.and([
            eb('updated_at', '<', deadBefore),
            eb.not(
              eb.exists(
                eb
                  .selectFrom('workers')
                  .select('workers.id')
                  .whereRef('workers.id', '=', 'email_messages.lease_owner')
                  .where('workers.heartbeat_at', '>=', deadBefore),
              ),
            ),
          ]),
        );
      }
      return eb.and([eb('status', '=', 'sending'), eb.or(why)]);
    };
    const any = await this.db.selectFrom('email_messages').select('id').where(abandoned).limit(1).execute();
    if (any.length === 0) return { requeued: 0, failed: 0 };
    return this.commits.run(async (trx) => {
      const failed = await failPastMaxAttempts(
        trx,
        abandoned,
        'The worker stopped without a result on the last attempt (lease expired or worker dead)',
        now,
      );
      const requeued = await trx
        .updateTable('email_messages')
        .set({ status: 'queued', lease_owner: null, lease_expires_at: null, next_attempt_at: now, updated_at: now })
        .where(abandoned)
        .returning('id')
        .execute();
      await this.events.record(trx, [
        ...failed.map((r) => ({
          messageId: r.id,
          type: 'failed',
          at: now,
          data: { reason: 'lease_expired' },
          labels: r,
        })),
        ...requeued.map((r) => ({ messageId: r.id, type: 'lease_expired', at: now })),
      ]);
      return { requeued: requeued.length, failed: failed.length };
    });
  }
}

/**
 * Fails the messages `where` selects that have used more leases than their attempts allow (the
 * one extra lease recovery gives an abandoned last attempt): no more sends, the sealed content
 * dropped. Returns them with the labels their `failed` events carry.
 */
function failPastMaxAttempts(
  trx: Kysely<DB>,
  where: (eb: ExpressionBuilder<DB, 'email_messages'>) => ReturnType<ExpressionBuilder<DB, 'email_messages'>['and']>,
  errorMessage: string,
  now: number,
) {
  return trx
    .updateTable('email_messages')
    .set({
      status: 'failed',
      sealed_content: null,
      lease_owner: null,
      lease_expires_at: null,
      next_attempt_at: null,
      error_message: errorMessage,
      updated_at: now,
    })
    .where(where)
    .where(sql<boolean>`attempts > max_attempts`)
    .returning(['id', 'template_key', 'category', 'created_at'])
    .execute();
}

/**
 * The lease as one UPDATE … WHERE id IN (due ids) RETURNING *. The inner select is served by the
 * (status, priority, next_attempt_at) index: an ordered scan that stops at `limit`. The outer
 * status check must not drive the update: without statistics SQLite picked the status index for
 * it and walked every queued row for each lease (100,000 queued made each lease take ~100 ms).
 * `+status` keeps the check but takes that index out of the planner's choices, so the update
 * seeks the leased ids by primary key.
 *
 * PostgreSQL: the due ids are a MATERIALIZED CTE, computed once. As a subquery, the planner
 * could make it the inner side of a nested-loop semi join, run again for each queued row; each
 * run skipped the rows this very statement had just updated and returned the next one, so a
 * lease of 50 took every due message of the queue.
 */
export function leaseStatement(
  db: Kysely<DB>,
  dialect: Dialect,
  owner: string,
  limit: number,
  now: number,
  leaseMs: number,
) {
  const set = {
    status: 'sending' as const,
    lease_owner: owner,
    lease_expires_at: now + leaseMs,
    attempts: sql<number>`attempts + 1`,
    updated_at: now,
  };
  const due = (qb: QueryCreator<DB>) =>
    qb
      .selectFrom('email_messages')
      .select('id')
      .where('status', '=', 'queued')
      .where('next_attempt_at', '<=', now)
      .orderBy('priority')
      .orderBy('next_attempt_at')
      .limit(limit);
  if (dialect === 'postgres') {
    // The `sending` events in the same statement, their data as record() writes it
    // ({"attempt":n,"worker":owner}, JSON.stringify's bytes).
    const [before, after] = ['{"attempt":', `,"worker":${JSON.stringify(owner)}}`];
    return db
      .with(
        (cte) => cte('due').materialized(),
        (qb) => due(qb).forUpdate().skipLocked(),
      )
      .with('leased', (qb) =>
        qb
          .updateTable('email_messages')
          .set(set)
          .where('status', '=', 'queued')
          .where('id', 'in', (eb) => eb.selectFrom('due').select('due.id'))
          .returningAll(),
      )
      .with('sending', (qb) =>
        qb
          .insertInto('email_events')
          .columns(['message_id', 'type', 'created_at', 'data'])
          .expression((eb) =>
            eb
              .selectFrom('leased')
              .select([
                'leased.id',
                sql<string>`'sending'`.as('type'),
                sql<number>`${now}::bigint`.as('created_at'),
                sql<string>`${before}::text || leased.attempts || ${after}::text`.as('data'),
              ]),
          ),
      )
      .selectFrom('leased')
      .selectAll();
  }
  return db
    .updateTable('email_messages')
    .set(set)
    .where(sql<string>`+status`, '=', 'queued')
    .where('id', 'in', () => due(db))
    .returningAll();
}

function statusEvent(messageId: string, c: Completion): NewEvent {
  if (c.status === 'suppressed') return suppressedEvent(messageId, c.errorMessage!, 'delivery', c.at);
  // The cc/bcc the message was never sent to because they are suppressed (on final events, when any).
  const suppressed = Object.entries(c.recipientStatus ?? {})
    .filter(([, r]) => r.status === 'suppressed')
    .map(([address]) => address);
  const withheld = suppressed.length && c.status !== 'queued' ? { withheld: suppressed } : {};
  if (c.status === 'captured')
    return {
      messageId,
      type: 'captured',
      at: c.at,
      data: { smtp_response: c.smtpResponse, not_delivered: true, ...withheld },
    };
  if (c.status === 'sent')
    return {
      messageId,
      type: 'sent',
      at: c.at,
      data: { smtp_response: c.smtpResponse, provider_message_id: c.providerMessageId, ...withheld },
    };
  if (c.status === 'failed')
    return {
      messageId,
      type: 'failed',
      at: c.at,
      data: { error_message: c.errorMessage, attempts: c.attempt.attempt, ...withheld },
    };
  if (c.status === 'partially_sent') {
    const all = Object.entries(c.recipientStatus ?? {}).map(
      ([address, { kind, status, code, enhanced, response }]) => ({ address, kind, status, code, enhanced, response }),
    );
    const accepted = all.filter((r) => r.status === 'accepted');
    const notDelivered = all.filter((r) => r.status !== 'accepted');
    return {
      messageId,
      type: 'partially_sent',
      at: c.at,
      data: { final: true, accepted, not_delivered: notDelivered, error_message: c.errorMessage, ...withheld },
    };
  }
  return {
    messageId,
    type: 'retry_scheduled',
    at: c.at,
    data: {
      next_attempt_at: new Date(c.nextAttemptAt!).toISOString(),
      after_attempt: c.attempt.attempt,
      ...(c.attempt.relay_problem ? { relay_problem: c.attempt.relay_problem } : {}),
    },
  };
}

/** What a completion writes on its message's row, if the lease is still `owner`'s. */
interface CompletionUpdate {
  id: string;
  owner: string;
  status: Completion['status'];
  nextAttemptAt: number | null;
  smtpResponse: string | null;
  attempts: number;
  recipientStatus: string | null;
  relayProblemSince: number | null;
  providerMessageId: string | null;
  /** sent_at and error_message are written (sent, captured, partially_sent). */
  setSent: boolean;
  sentAt: number | null;
  /** error_message is written (those, failed and suppressed). */
  setError: boolean;
  errorMessage: string | null;
  /** The clear content of sensitive variables has served its purpose. */
  final: boolean;
  at: number;
}

function completionUpdate(message: MessageRow, owner: string, c: Completion): CompletionUpdate {
  const setSent = c.status === 'sent' || c.status === 'captured' || c.status === 'partially_sent';
  return {
    id: message.id,
    owner,
    status: c.status,
    nextAttemptAt: c.nextAttemptAt ?? null,
    // The texts come from the relay: storable on PostgreSQL (no NUL), or the batch's statement fails.
    smtpResponse: c.smtpResponse === null ? null : storable(c.smtpResponse),
    // A relay problem does not spend an attempt: the lease's increment is undone.
    attempts: c.counted ? message.attempts : message.attempts - 1,
    recipientStatus: c.recipientStatus ? JSON.stringify(c.recipientStatus) : (message.recipient_status ?? null),
    relayProblemSince: c.relayProblemSince ?? null,
    // The first transaction's id stays (a later one, for deferred recipients, has its own).
    providerMessageId:
      message.provider_message_id ?? (c.providerMessageId === null ? null : storable(c.providerMessageId)),
    setSent,
    sentAt: c.sentAt ?? null,
    setError: setSent || c.status === 'failed' || c.status === 'suppressed',
    errorMessage: c.errorMessage === null ? null : storable(c.errorMessage),
    final: c.status !== 'queued',
    at: c.at,
  };
}

/** SQLite (in process, no round trips): one conditional UPDATE per message, its SQL built once per status. */
async function completeOneByOne(trx: Kysely<DB>, updates: CompletionUpdate[]): Promise<boolean[]> {
  const applied: boolean[] = [];
  for (const u of updates) {
    const set = {
      status: u.status,
      lease_owner: null,
      lease_expires_at: null,
      next_attempt_at: u.nextAttemptAt,
      smtp_response: u.smtpResponse,
      attempts: u.attempts,
      recipient_status: u.recipientStatus,
      relay_problem_since: u.relayProblemSince,
      provider_message_id: u.providerMessageId,
      ...(u.setSent ? { sent_at: u.sentAt } : {}),
      ...(u.setError ? { error_message: u.errorMessage } : {}),
      ...(u.final ? { sealed_content: null } : {}),
      updated_at: u.at,
    };
    // The same statement for every completion of a status: its SQL is built once.
    const res = await reusedStatement(
      trx,
      `complete as ${u.status}`,
      [...Object.values(set), u.id, 'sending', u.owner],
      () =>
        trx
          .updateTable('email_messages')
          .set(set)
          .where('id', '=', u.id)
          .where('status', '=', 'sending')
          .where('lease_owner', '=', u.owner),
    );
    applied.push(Number(res.numAffectedRows) === 1);
  }
  return applied;
}

/** The events of a batch of completions, in order: every attempt, and the status changes that applied. */
function recorded(
  events: Array<{ event: NewEvent; ifApplied: boolean }>,
  updates: CompletionUpdate[],
  applied: boolean[],
): NewEvent[] {
  const done = new Set(updates.filter((_, i) => applied[i]).map((u) => u.id));
  return events.filter((e) => !e.ifApplied || done.has(e.event.messageId)).map((e) => e.event);
}

/**
 * PostgreSQL: the whole batch and its events in one statement, so one round trip and one
 * transaction whatever its size (a round trip per message cost the delivery thread more than
 * building the messages; BEGIN, the update, the events' insert and COMMIT were four). The update
 * is an UPDATE … FROM unnest(arrays), each row still conditional on its own lease; the events'
 * insert, a CTE of the same statement, keeps a status event only if its message's update is in
 * the update's RETURNING, and inserts in the given order (ids follow it). The ids must be distinct.
 */
async function completeInOneStatement(
  db: Kysely<DB>,
  updates: CompletionUpdate[],
  events: Array<{ event: NewEvent; ifApplied: boolean }>,
): Promise<boolean[]> {
  const col = <T>(f: (u: CompletionUpdate) => T) => updates.map(f);
  const rows = eventRows(events.map((e) => e.event));
  const { rows: done } = await sql<{ id: string }>`
    with updated as (
      update email_messages as m set
        status = v.status,
        lease_owner = null,
        lease_expires_at = null,
        next_attempt_at = v.next_attempt_at,
        smtp_response = v.smtp_response,
        attempts = v.attempts,
        recipient_status = v.recipient_status,
        relay_problem_since = v.relay_problem_since,
        provider_message_id = v.provider_message_id,
        sent_at = case when v.set_sent then v.sent_at else m.sent_at end,
        error_message = case when v.set_error then v.error_message else m.error_message end,
        sealed_content = case when v.final then null else m.sealed_content end,
        updated_at = v.updated_at
      from unnest(
        ${col((u) => u.id)}::text[], ${col((u) => u.owner)}::text[], ${col((u) => u.status)}::text[],
        ${col((u) => u.nextAttemptAt)}::bigint[], ${col((u) => u.smtpResponse)}::text[],
        ${col((u) => u.attempts)}::int[], ${col((u) => u.recipientStatus)}::text[],
        ${col((u) => u.relayProblemSince)}::bigint[], ${col((u) => u.providerMessageId)}::text[],
        ${col((u) => u.setSent)}::bool[], ${col((u) => u.sentAt)}::bigint[], ${col((u) => u.setError)}::bool[],
        ${col((u) => u.errorMessage)}::text[], ${col((u) => u.final)}::bool[], ${col((u) => u.at)}::bigint[]
      ) as v(id, owner, status, next_attempt_at, smtp_response, attempts, recipient_status, relay_problem_since,
        provider_message_id, set_sent, sent_at, set_error, error_message, final, updated_at)
      where m.id = v.id and m.status = 'sending' and m.lease_owner = v.owner
      returning m.id
    ), recorded as (
      insert into email_events (message_id, type, created_at, data)
      select e.message_id, e.type, e.created_at, e.data
      from unnest(
        ${rows.map((r) => r.message_id)}::text[], ${rows.map((r) => r.type)}::text[],
        ${rows.map((r) => r.created_at)}::bigint[], ${rows.map((r) => r.data ?? null)}::text[],
        ${events.map((e) => e.ifApplied)}::bool[]
      ) with ordinality as e(message_id, type, created_at, data, if_applied, n)
      where not e.if_applied or e.message_id in (select id from updated)
      order by e.n
    )
    select id from updated`.execute(db);
  const applied = new Set(done.map((r) => r.id));
  return updates.map((u) => applied.has(u.id));
}
