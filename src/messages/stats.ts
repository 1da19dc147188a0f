import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../platform/db/database.js';
import { type DB, MESSAGE_STATUSES, type MessageRow, type MessageStatus } from '../platform/db/schema.js';
import { DAY_MS, iso } from '../platform/time.js';
import { feedbackOf, feedbackReason } from './feedback-view.js';

/**
 * The outcomes the dashboard charts per day; the other statuses only appear in the counts.
 * Captured mail (no SMTP_HOST) has its own series: it was never sent to anyone.
 */
export const SERIES_STATUSES = ['sent', 'captured', 'delivered', 'bounced', 'failed'] as const;

export type StatusCounts = Record<MessageStatus, number>;
export interface DayPoint {
  day: string;
  sent: number;
  captured: number;
  delivered: number;
  bounced: number;
  failed: number;
}

export interface StatsOptions {
  days: number;
  /** TRACK_OPENS and TRACK_CLICKS, said with the counts (zero because off, or because nobody opened). */
  tracking?: { opens: boolean; clicks: boolean };
  /** The viewer's offset from UTC in minutes (east positive), so "today" is the viewer's day. */
  tzOffsetMinutes: number;
  now?: number;
}

const isSeries = (s: string): s is (typeof SERIES_STATUSES)[number] =>
  (SERIES_STATUSES as readonly string[]).includes(s);

const zeroCounts = (): StatusCounts => Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as StatusCounts;

/** Local day number → `YYYY-MM-DD` of that day in the viewer's zone. */
export const dayLabel = (day: number): string => new Date(day * DAY_MS).toISOString().slice(0, 10);

/** The local day number of an epoch-ms instant, for a viewer `offsetMs` east of UTC. */
export const dayOf = (ms: number, offsetMs: number): number => Math.floor((ms + offsetMs) / DAY_MS);

/**
 * Folds (day, status, count) rows into today's counts, the period's counts and one zero-filled
 * point per day, oldest first. Pure, so the bucketing is tested without a database.
 */
export function bucketStats(rows: { day: number; status: string; n: number }[], firstDay: number, today: number) {
  const todayCounts = zeroCounts();
  const periodCounts = zeroCounts();
  const series: DayPoint[] = [];
  for (let d = firstDay; d <= today; d++)
    series.push({ day: dayLabel(d), sent: 0, captured: 0, delivered: 0, bounced: 0, failed: 0 });
  for (const r of rows) {
    if (r.day < firstDay || r.day > today || !(r.status in periodCounts)) continue;
    const status = r.status as MessageStatus;
    periodCounts[status] += r.n;
    if (r.day === today) todayCounts[status] += r.n;
    if (isSeries(status)) series[r.day - firstDay]![status] += r.n;
    // Partially sent went out (to some of its recipients): charted with sent.
    else if (status === 'partially_sent') series[r.day - firstDay]!.sent += r.n;
  }
  return { today: todayCounts, period: periodCounts, series };
}

type FailureRow = Pick<
  MessageRow,
  | 'id'
  | 'recipient_email'
  | 'subject'
  | 'status'
  | 'template_key'
  | 'error_message'
  | 'bounce_type'
  | 'bounce_subtype'
  | 'updated_at'
>;

/** Dashboard numbers: status counts for today and the last N days, a daily series, the queue, recent failures. */
export async function messageStats(db: Kysely<DB>, opts: StatsOptions, dialect: Dialect = 'sqlite') {
  const now = opts.now ?? Date.now();
  const offsetMs = opts.tzOffsetMinutes * 60_000;
  const today = dayOf(now, offsetMs);
  const firstDay = today - opts.days + 1;
  const since = firstDay * DAY_MS - offsetMs;

  // Bucket by the viewer's local day in SQL. created_at is a bigint on both databases, so `/` by
  // an integer literal is integer division (a floor for positive times) on SQLite and PostgreSQL
  // alike. Literals, not parameters: better-sqlite3 binds JS numbers as REAL, which would make the
  // division fractional. Both are integers (schema-validated offset, constant day length).
  const day = sql<number>`(created_at + ${sql.lit(Math.trunc(offsetMs))}) / ${sql.lit(DAY_MS)}`;
  const rows = await db
    .selectFrom('email_messages')
    .select([day.as('day'), 'status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('created_at', '>=', since)
    .groupBy([day, 'status'])
    .execute();

  const queue = await db
    .selectFrom('email_messages')
    .select([
      (eb) => eb.fn.countAll<number>().as('depth'),
      (eb) => eb.fn.min(sql<number>`coalesce(send_at, created_at)`).as('oldest'),
    ])
    .where('status', 'in', ['queued', 'sending'])
    .executeTakeFirstOrThrow();

  // The partial index email_messages_failures (migration 0018) serves this: newest first, 10 rows.
  // SQLite's planner, without statistics, took the status index instead and sorted every failed
  // message of the archive (180 ms with 64,000 of them): it is named. The condition is written
  // exactly as the index states it, as a partial index requires.
  const indexed = dialect === 'sqlite' ? sql`indexed by email_messages_failures` : sql``;
  const failures = (
    await sql<FailureRow>`select id, recipient_email, subject, status, template_key, error_message, bounce_type,
        bounce_subtype, updated_at
      from email_messages ${indexed}
      where status in ('failed', 'partially_sent', 'bounced', 'complaint')
      order by updated_at desc limit 10`.execute(db)
  ).rows;

  // Bounces and complaints: their reason is in the feedback event, not in the relay's reply.
  const fed = failures.filter((f) => f.status === 'bounced' || f.status === 'complaint').map((f) => f.id);
  const feedbackEvents = fed.length
    ? await db
        .selectFrom('email_events')
        .select(['message_id', 'type', 'data', 'created_at'])
        .where('message_id', 'in', fed)
        .where('type', 'in', ['bounced', 'complaint'])
        .orderBy('id', 'desc')
        .execute()
    : [];
  const feedback = new Map<string, ReturnType<typeof feedbackOf>>();
  for (const e of feedbackEvents) {
    if (feedback.has(e.message_id)) continue;
    const to = failures.find((f) => f.id === e.message_id)?.recipient_email ?? null;
    const data = e.data ? (JSON.parse(e.data) as unknown) : null;
    feedback.set(e.message_id, feedbackOf({ type: e.type, data, at: iso(Number(e.created_at)) }, to));
  }

  // Served by email_events_type_time (type, created_at): people count once per message.
  const engagement = await db
    .selectFrom('email_events')
    .select([
      'type',
      (eb) => eb.fn.count<number>(sql`distinct message_id`).as('messages'),
      (eb) => eb.fn.countAll<number>().as('n'),
    ])
    .where('type', 'in', ['opened', 'clicked', 'opened_by_machine', 'clicked_by_machine'])
    .where('created_at', '>=', since)
    .groupBy('type')
    .execute();
  const of = (type: string, what: 'messages' | 'n') => Number(engagement.find((e) => e.type === type)?.[what] ?? 0);

  const buckets = bucketStats(
    rows.map((r) => ({ day: Number(r.day), status: r.status, n: Number(r.n) })),
    firstDay,
    today,
  );
  const oldest = queue.oldest == null ? null : Number(queue.oldest);
  return {
    generated_at: iso(now)!,
    days: opts.days,
    tz_offset: opts.tzOffsetMinutes,
    today: buckets.today,
    period: buckets.period,
    series: buckets.series,
    queue: {
      depth: Number(queue.depth),
      oldest_queued_at: iso(oldest),
      oldest_age_seconds: oldest == null ? null : Math.max(0, Math.round((now - oldest) / 1000)),
    },
    engagement: {
      tracking: opts.tracking ?? { opens: false, clicks: false },
      opened: of('opened', 'messages'),
      clicked: of('clicked', 'messages'),
      machine_opens: of('opened_by_machine', 'n'),
      machine_clicks: of('clicked_by_machine', 'n'),
    },
    latest_failures: failures.map((f) => {
      const fb = feedback.get(f.id) ?? null;
      return {
        id: f.id,
        to: f.recipient_email,
        subject: f.subject,
        status: f.status,
        template_key: f.template_key,
        // Never the relay's reply to a message that went out: that is not why it failed.
        reason: fb
          ? feedbackReason(fb)
          : (f.error_message ?? ([f.bounce_type, f.bounce_subtype].filter(Boolean).join(' / ') || null)),
        feedback: fb,
        at: iso(f.updated_at)!,
      };
    }),
  };
}
