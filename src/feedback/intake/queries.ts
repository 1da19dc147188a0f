/** What the admin API and UI read of stored reports. */
import type { Kysely } from 'kysely';
import type { DB, FeedbackReportRow } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { iso } from '../../platform/time.js';
import type { BounceCategory, ReportKind } from '../types.js';
import type { MatchMethod } from './match.js';

export interface ReportFilter {
  state?: 'pending' | 'classified' | 'failed';
  kind?: string;
  messageId?: string;
  /** Only reports matched to no message, or left unclassified: what an admin should look at. */
  attention?: boolean;
}

const encodeCursor = (id: string) => Buffer.from(id).toString('base64url');
function decodeCursor(c: string): string {
  const id = Buffer.from(c, 'base64url').toString();
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new AppError('invalid_request', 'Invalid cursor');
  return id;
}

const LIST_COLUMNS = [
  'id',
  'received_at',
  'source',
  'envelope_from',
  'envelope_to',
  'size',
  'state',
  'attempts',
  'classified_at',
  'kind',
  'category',
  'recipient',
  'status_code',
  'diagnostic',
  'reason',
  'message_id',
  'match_method',
  'suppressed',
  'error',
  'classification',
] as const;

type ListRow = Pick<FeedbackReportRow, (typeof LIST_COLUMNS)[number]>;

export function reportView(r: ListRow) {
  const c = r.classification ? (JSON.parse(r.classification) as Record<string, unknown>) : null;
  const headers = (c?.report ?? {}) as { from?: string | null; subject?: string | null };
  return {
    id: r.id,
    received_at: iso(r.received_at)!,
    source: r.source,
    envelope_from: r.envelope_from,
    envelope_to: r.envelope_to ? (JSON.parse(r.envelope_to) as string[]) : [],
    size: r.size,
    state: r.state,
    attempts: Number(r.attempts),
    classified_at: iso(r.classified_at),
    kind: r.kind as ReportKind | null,
    category: r.category as BounceCategory | null,
    recipient: r.recipient,
    status_code: r.status_code,
    diagnostic: r.diagnostic,
    reason: r.reason,
    evidence: Array.isArray(c?.evidence) ? (c.evidence as string[]) : [],
    feedback_type: typeof c?.feedbackType === 'string' ? c.feedbackType : null,
    from: headers.from ?? null,
    subject: headers.subject ?? null,
    message_id: r.message_id,
    match_method: r.match_method as MatchMethod | null,
    suppressed: r.suppressed ? (JSON.parse(r.suppressed) as string[]) : [],
    error: r.error,
  };
}

export async function listReports(db: Kysely<DB>, f: ReportFilter, limit: number, cursor?: string) {
  let q = db.selectFrom('feedback_reports').select(LIST_COLUMNS);
  if (f.state) q = q.where('state', '=', f.state);
  if (f.kind) q = q.where('kind', '=', f.kind);
  if (f.messageId) q = q.where('message_id', '=', f.messageId);
  if (f.attention)
    q = q.where((eb) =>
      eb.or([eb('message_id', 'is', null), eb('kind', '=', 'unclassified'), eb('state', '=', 'failed')]),
    );
  if (cursor) q = q.where('id', '<', decodeCursor(cursor));
  const rows = await q
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const page = rows.slice(0, limit);
  return {
    items: page.map(reportView),
    next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.id) : null,
  };
}

export async function getReport(db: Kysely<DB>, id: string): Promise<FeedbackReportRow> {
  const r = await db.selectFrom('feedback_reports').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r) throw new AppError('report_not_found', `No feedback report ${id}`);
  return r;
}

/** Back to pending: a worker classifies it again with today's classifier (its events apply once). */
export async function reclassify(db: Kysely<DB>, id: string): Promise<void> {
  const r = await db
    .updateTable('feedback_reports')
    .set({ state: 'pending', lease_owner: null, lease_expires_at: null, attempts: 0, error: null })
    .where('id', '=', id)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) throw new AppError('report_not_found', `No feedback report ${id}`);
}
