import type { Kysely } from 'kysely';
import type pino from 'pino';
import type { DB, RelayStatusRow } from '../platform/db/schema.js';
import { relayProblems, relayState } from '../platform/metrics.js';
import type { RelayObservation } from './decide.js';

/**
 * The relay's health as the operator sees it: a gauge and a counter in /metrics, an error log
 * line when it turns bad (and one when it recovers), and a row in relay_status that the admin
 * API and the dashboard read. Fed by every attempt's outcome; it writes and logs only when the
 * state changes (or the kind of problem does), never once per message.
 */
export class RelayMonitor {
  private readonly seen = new Map<string, { state: 'ok' | 'problem'; kind: string | null }>();
  private readonly addresses: Map<string, string>;
  private readonly first: string;
  private writes: Promise<void> = Promise.resolve();

  /** `relays`: the relay and its fallbacks in order (name, host:port); the first is the default. */
  constructor(
    private readonly db: Kysely<DB>,
    private readonly log: pino.Logger,
    relays: Array<{ name: string; address: string }>,
  ) {
    this.addresses = new Map(relays.map((r) => [r.name, r.address]));
    this.first = relays[0]!.name;
  }

  /** What an attempt said of relay `name` (the first relay unless the attempt names another). */
  observe(o: RelayObservation, at: number, name: string = this.first): void {
    if (!o) return;
    const address = this.addresses.get(name) ?? name;
    if (o.state === 'problem') relayProblems.inc({ transport: name, kind: o.kind });
    const kind = o.state === 'problem' ? o.kind : null;
    const was = this.seen.get(name);
    if (o.state === was?.state && kind === was.kind) return;
    this.seen.set(name, { state: o.state, kind });
    relayState.set({ transport: name }, o.state === 'problem' ? 1 : 0);
    if (o.state === 'problem') {
      this.log.error(
        { transport: name, address, kind: o.kind, reply: o.text },
        this.addresses.size > 1
          ? `SMTP relay problem (${o.kind}): the next relay is tried; with none left, messages are kept queued and retried without spending their attempts`
          : `SMTP relay problem (${o.kind}): messages are kept queued and retried without spending their attempts`,
      );
    } else if (was?.state === 'problem') {
      this.log.info({ transport: name, address }, 'SMTP relay works again');
    }
    // In order, one at a time; a failed write is logged and the next change writes again.
    this.writes = this.writes.then(() =>
      saveRelayStatus(this.db, name, address, o, at).catch((err: unknown) =>
        this.log.error({ err }, 'could not record the relay status'),
      ),
    );
  }

  /**
   * Removes the rows of relays no longer configured (a fallback removed, capture mode left), so
   * the dashboard and /system never show an old relay's health as a current one's.
   */
  prune(): void {
    const names = [...this.addresses.keys()];
    this.writes = this.writes.then(() =>
      this.db
        .deleteFrom('relay_status')
        .where('name', 'not in', names)
        .execute()
        .then(
          () => {},
          (err: unknown) => this.log.warn({ err }, 'could not remove the status of relays no longer configured'),
        ),
    );
  }

  /** Resolves once the writes asked for so far are done (tests, shutdown). */
  flushed(): Promise<void> {
    return this.writes;
  }
}

/**
 * Upserts the transport's row. A change to `problem` keeps `since` when the row already says
 * problem (another worker saw it first), so `since` is when the trouble began.
 */
export async function saveRelayStatus(
  db: Kysely<DB>,
  name: string,
  address: string,
  o: Exclude<RelayObservation, null>,
  at: number,
): Promise<void> {
  const row = await db.selectFrom('relay_status').selectAll().where('name', '=', name).executeTakeFirst();
  const since = row && row.state === o.state ? Number(row.since) : at;
  const values =
    o.state === 'problem'
      ? {
          address,
          state: o.state,
          since,
          problem_kind: o.kind,
          last_problem: o.text,
          last_problem_at: at,
          updated_at: at,
        }
      : { address, state: o.state, since, last_ok_at: at, updated_at: at };
  if (row) await db.updateTable('relay_status').set(values).where('name', '=', name).execute();
  else
    await db
      .insertInto('relay_status')
      .values({ name, problem_kind: null, last_problem: null, last_problem_at: null, last_ok_at: null, ...values })
      .onConflict((oc) => oc.column('name').doUpdateSet(values))
      .execute();
}

export interface RelayStatusView {
  name: string;
  address: string;
  state: 'ok' | 'problem';
  since: string;
  problem_kind: string | null;
  last_problem: string | null;
  last_problem_at: string | null;
  last_ok_at: string | null;
  updated_at: string;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

export async function listRelayStatus(db: Kysely<DB>): Promise<RelayStatusView[]> {
  const rows: RelayStatusRow[] = await db.selectFrom('relay_status').selectAll().orderBy('name').execute();
  return rows.map((r) => ({
    name: r.name,
    address: r.address,
    state: r.state,
    since: iso(r.since)!,
    problem_kind: r.problem_kind,
    last_problem: r.last_problem,
    last_problem_at: iso(r.last_problem_at),
    last_ok_at: iso(r.last_ok_at),
    updated_at: iso(r.updated_at)!,
  }));
}
