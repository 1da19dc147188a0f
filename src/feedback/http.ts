import type { Readable } from 'node:stream';
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Config } from '../platform/config.js';
import type { DB } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { sendDownload } from '../platform/http/download.js';
import { readBody } from '../platform/http/large-json.js';
import {
  AnyObject,
  DateTime,
  errors,
  Nullable,
  NullableDateTime,
  NullableString,
  StringEnum,
} from '../platform/http/schemas.js';
import { classifyReport } from './classify.js';
import { matchReport } from './intake/match.js';
import { getReport, listReports, reclassify, reportView } from './intake/queries.js';
import { PROVIDERS, type ProviderWebhooks } from './providers.js';
import { verpKey, verpMessageId } from './return-path.js';
import type { SnsReceiver } from './ses-sns/receiver.js';
import { BOUNCE_CATEGORIES } from './types.js';

export interface FeedbackHttpOptions {
  sns: SnsReceiver;
  providers: ProviderWebhooks;
  db: Kysely<DB>;
  config: Config;
  /** Reports were set back to pending (re-classify): ring this process's processor, if any. */
  onPending?: () => void;
}

/** What became of one SNS message (applied: a notification; message_id: the others). */
const SnsOutcome = Type.Object({
  result: StringEnum(['processed', 'duplicate', 'confirmed', 'unsubscribed'] as const),
  applied: Type.Optional(
    Type.Object({
      kind: StringEnum(['Delivery', 'Bounce', 'Complaint', 'Other'] as const),
      messageId: NullableString,
      statusChanged: Type.Boolean(),
      suppressed: Type.Array(Type.String()),
    }),
  ),
  message_id: Type.Optional(Type.String({ description: 'The SNS MessageId' })),
});

const ProviderOutcome = Type.Object({
  provider: StringEnum(PROVIDERS),
  events: Type.Integer({ description: 'Events the body held (opens and clicks included)' }),
  applied: Type.Integer({ description: 'Bounces, complaints, deliveries, ... applied now' }),
  duplicates: Type.Integer({ description: 'Events applied before (a provider retry)' }),
  matched: Type.Integer({ description: 'Events that named a message of ours' }),
  suppressed: Type.Array(Type.String()),
});

/** `T | null` from a closed set of strings. */
const NullableEnum = <T extends string>(values: readonly T[]) =>
  Type.Unsafe<T | null>({ type: ['string', 'null'], enum: [...values, null] });

const KINDS = [
  'hard_bounce',
  'soft_bounce',
  'complaint',
  'unsubscribe',
  'auto_reply',
  'delivered',
  'unclassified',
] as const;
const ReportKind = StringEnum(KINDS);
const Category = NullableEnum(BOUNCE_CATEGORIES);
const MatchMethod = NullableEnum(['verp', 'message_id', 'provider_id', 'none'] as const);

const RecipientView = Type.Object({
  recipient: NullableString,
  action: NullableString,
  status: NullableString,
  diagnostic: NullableString,
  remote_mta: NullableString,
  kind: ReportKind,
  category: Category,
  final: Type.Boolean(),
  suppress: Type.Boolean(),
});

const Classification = Type.Object({
  kind: ReportKind,
  category: Category,
  category_source: NullableEnum(['status', 'diagnostic', 'default'] as const),
  recipient: NullableString,
  status: Nullable(Type.String({ description: 'Enhanced status code, e.g. 5.1.1' })),
  diagnostic: NullableString,
  reporting_mta: NullableString,
  final: Type.Boolean(),
  suppress: Type.Boolean({
    description: 'Whether the address itself is bad (a hard unknown_user or domain_not_found)',
  }),
  feedback_type: NullableString,
  feedback_agent: NullableString,
  format: Type.String(),
  reason: Type.String({ description: 'Machine-readable decision code, e.g. dsn_failed_permanent, vacation_subject' }),
  evidence: Type.Array(Type.String(), { description: 'The signals behind the decision' }),
  original_message_id: NullableString,
  matched_message_id: NullableString,
  match_method: MatchMethod,
  recipients: Type.Array(RecipientView),
});

const ReportView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  received_at: DateTime,
  source: Type.String({ description: 'smtp (the listener) or imap' }),
  envelope_from: NullableString,
  envelope_to: Type.Array(Type.String()),
  size: Type.Integer(),
  state: StringEnum(['pending', 'classified', 'failed'] as const),
  attempts: Type.Integer(),
  classified_at: NullableDateTime,
  kind: NullableEnum(KINDS),
  category: Category,
  recipient: NullableString,
  status_code: NullableString,
  diagnostic: NullableString,
  reason: NullableString,
  evidence: Type.Array(Type.String()),
  feedback_type: NullableString,
  from: NullableString,
  subject: NullableString,
  message_id: NullableString,
  match_method: MatchMethod,
  suppressed: Type.Array(Type.String()),
  error: NullableString,
});

const ReportDetail = Type.Object({
  ...ReportView.properties,
  classification: Type.Union([AnyObject, Type.Null()], { description: "The classifier's whole answer" }),
  raw: Type.String({ description: 'The report as received (its first 256 KiB, as UTF-8)' }),
  raw_truncated: Type.Boolean(),
});

const RAW_SHOWN = 256 * 1024;

const SNS_ROUTE = '/api/v1/email/webhook';
const KiB = 1024;
/** Mailgun posts one event per request (its headers and variables, never the message): a few KiB. */
const MAILGUN_BODY_LIMIT = 256 * KiB;
/** An SNS message is at most 256 KiB; as a JSON string in its envelope, escaped, a little more. */
const SNS_BODY_LIMIT = 320 * KiB;
/** Postmark (a bounce may include the whole bounced message), SendGrid and Brevo (batches); classify. */
const BODY_LIMIT = 10 * KiB * KiB;

const size = (bytes: number) => (bytes >= KiB * KiB ? `${bytes / KiB / KiB} MiB` : `${bytes / KiB} KiB`);

/** The body limit of a request to one of these routes (Mailgun's is smaller than its route's), and why. */
function limitOf(request: FastifyRequest): { bytes: number; why: string } {
  if ((request.params as { provider?: unknown } | undefined)?.provider === 'mailgun')
    return { bytes: MAILGUN_BODY_LIMIT, why: 'Mailgun posts one event per request' };
  if (request.routeOptions.url === SNS_ROUTE)
    return { bytes: SNS_BODY_LIMIT, why: 'an SNS message is at most 256 KiB' };
  return { bytes: request.routeOptions.bodyLimit ?? BODY_LIMIT, why: 'the limit of this route' };
}

/**
 * Reads a body as bytes up to its limit and stops there: past it, or when Content-Length says
 * so, a 413 `payload_too_large` before anything is read or parsed (a 10 MB anonymous body
 * once held the process for seconds of JSON parsing before its signature was even checked).
 */
function readLimitedBody(request: FastifyRequest, payload: Readable, done: (err: Error | null, body?: Buffer) => void) {
  const limit = limitOf(request);
  const tooLarge = () =>
    new AppError('payload_too_large', `The request body is over ${size(limit.bytes)} (${limit.why})`, {
      limit_bytes: limit.bytes,
    });
  readBody(request, payload, { limit: limit.bytes, tooLarge }).then((body) => done(null, body), done);
}

/**
 * Feedback routes. The SNS and provider routes are public: each request is authenticated by its
 * sender's own scheme (SNS signature, provider credentials or signature). This plugin reads every
 * body as bytes (SNS posts JSON as text/plain; SendGrid signs the exact bytes; classify takes a
 * raw RFC 822 message), leaving the JSON parsing of every other route untouched, and stops
 * reading at each route's limit (readLimitedBody): the public routes parse nothing larger than what
 * their sender can send.
 */
export const feedbackHttp: FastifyPluginAsyncTypebox<FeedbackHttpOptions> = async (app, opts) => {
  const { sns, providers, db, config } = opts;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', readLimitedBody);
  const text = (body: unknown) => (Buffer.isBuffer(body) ? body.toString('utf8') : '');

  app.post(
    SNS_ROUTE,
    {
      bodyLimit: SNS_BODY_LIMIT,
      config: { auth: 'public' },
      schema: {
        summary: 'Amazon SES feedback through SNS (deliveries, bounces, complaints, subscription confirmation)',
        // 400 not an SNS message; 403 topic, certificate, signature or age refused; 413 over 320 KiB;
        // 502 the confirmation URL failed; 503 the signing certificate could not be fetched (SNS retries).
        response: { 200: SnsOutcome, ...errors(400, 403, 413, 502) },
      },
    },
    async (request) => sns.receive(text(request.body), request.ip),
  );

  app.post(
    '/api/v1/feedback/:provider',
    {
      bodyLimit: BODY_LIMIT,
      config: { auth: 'public' },
      schema: {
        summary: 'A provider webhook (Postmark, Mailgun, SendGrid, Brevo): bounces, complaints, deliveries',
        params: Type.Object({ provider: StringEnum(PROVIDERS) }),
        // 400 not JSON; 401 credentials missing or wrong; 403 signature, timestamp or replay refused;
        // 404 this provider is not configured; 413 over 256 KiB (Mailgun) or 10 MiB (the others).
        response: { 200: ProviderOutcome, ...errors(400, 401, 403, 404, 413) },
      },
    },
    async (request) =>
      providers.receive(request.params.provider, {
        headers: request.headers,
        body: text(request.body),
        // Brevo may carry its token in a query parameter whose name is configured (BREVO_WEBHOOK_QUERY_PARAM).
        query: request.query as Record<string, unknown>,
        ip: request.ip,
      }),
  );

  const key = verpKey(config);
  app.post(
    '/api/v1/feedback/classify',
    {
      bodyLimit: BODY_LIMIT,
      schema: {
        summary: 'Classify a raw RFC 822 report (bounce, complaint, auto-reply) without changing anything',
        description:
          'Send the message as the body (Content-Type message/rfc822, text/plain or application/octet-stream). ' +
          'The classifier reads its first MiB.',
        querystring: Type.Object({
          envelope_from: Type.Optional(
            Type.String({ maxLength: 320, description: "The report's MAIL FROM ('' for <>)" }),
          ),
        }),
        response: { 200: Classification, ...errors(400, 413) },
      },
    },
    async (request) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const c = classifyReport(raw, { envelopeFrom: request.query.envelope_from ?? null });
      const match = await matchReport(db, c, [], (a) => verpMessageId(config, key, a));
      return {
        kind: c.kind,
        category: c.category,
        category_source: c.categorySource,
        recipient: c.recipient,
        status: c.status,
        diagnostic: c.diagnostic,
        reporting_mta: c.reportingMta,
        final: c.final,
        suppress: c.suppress,
        feedback_type: c.feedbackType,
        feedback_agent: c.feedbackAgent,
        format: c.format,
        reason: c.reason,
        evidence: c.evidence,
        original_message_id: c.original.messageId,
        matched_message_id: match.message?.id ?? null,
        match_method: match.method,
        recipients: c.recipients.map((r) => ({
          recipient: r.recipient,
          action: r.action,
          status: r.status,
          diagnostic: r.diagnostic,
          remote_mta: r.remoteMta,
          kind: r.kind,
          category: r.category,
          final: r.final,
          suppress: r.suppress,
        })),
      };
    },
  );

  app.get(
    '/api/v1/feedback/reports',
    {
      schema: {
        summary: 'Reports received by mail, newest first (filter by state, kind, message, or those needing attention)',
        querystring: Type.Object({
          state: Type.Optional(StringEnum(['pending', 'classified', 'failed'] as const)),
          kind: Type.Optional(ReportKind),
          message_id: Type.Optional(Type.String({ format: 'uuid' })),
          attention: Type.Optional(
            Type.Boolean({ description: 'Only reports matched to no message, unclassified, or failed' }),
          ),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          cursor: Type.Optional(Type.String({ maxLength: 200 })),
        }),
        response: { 200: Type.Object({ items: Type.Array(ReportView), next_cursor: NullableString }), ...errors(400) },
      },
    },
    async (request) => {
      const { state, kind, message_id, attention, limit, cursor } = request.query;
      return listReports(db, { state, kind, messageId: message_id, attention }, limit, cursor);
    },
  );

  app.get(
    '/api/v1/feedback/reports/:id',
    {
      schema: {
        summary: 'One report: its classification and the report as received',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 200: ReportDetail, ...errors(404) },
      },
    },
    async (request) => {
      const r = await getReport(db, request.params.id);
      return {
        ...reportView(r),
        classification: r.classification ? (JSON.parse(r.classification) as Record<string, unknown>) : null,
        raw: r.raw.subarray(0, RAW_SHOWN).toString('utf8'),
        raw_truncated: r.raw.length > RAW_SHOWN,
      };
    },
  );

  app.get(
    '/api/v1/feedback/reports/:id/raw',
    {
      schema: {
        summary: 'Download a report as received (message/rfc822)',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 200: Type.String({ description: 'The raw message' }), ...errors(404) },
      },
    },
    async (request, reply) => {
      const r = await getReport(db, request.params.id);
      return sendDownload(reply, { filename: `report-${r.id}.eml`, contentType: 'message/rfc822', data: r.raw });
    },
  );

  app.post(
    '/api/v1/feedback/reports/:id/reclassify',
    {
      schema: {
        summary: 'Classify a report again (a worker takes it shortly; its events apply once)',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 202: ReportView, ...errors(404) },
      },
    },
    async (request, reply) => {
      await reclassify(db, request.params.id);
      opts.onPending?.();
      return reply.status(202).send(reportView(await getReport(db, request.params.id)));
    },
  );
};
