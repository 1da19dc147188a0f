import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import { HtmlCheckResult, LinkCheckList, SpamCheckResult } from '../checks/index.js';
import type { EventLog } from '../events/index.js';
import type { Dialect } from '../platform/db/database.js';
import { type DB, MESSAGE_STATUSES } from '../platform/db/schema.js';
import { actorOf } from '../platform/http/auth.js';
import { sendDownload } from '../platform/http/download.js';
import { AppError } from '../platform/errors.js';
import { Download, errors } from '../platform/http/schemas.js';
import { actionAdvice, latestFeedback } from './advice.js';
import { cancelMessage } from './cancel.js';
import { type ArchiveChecks, archivedHtmlCheck, archivedLinkCheck, archivedSpamCheck } from './checks.js';
import { getAttachment, getMessage, listMessages } from './queries.js';
import { hasFragments } from './search.js';
import type { SearchIndex } from './search-index.js';
import { parseSearchQuery } from './search-query.js';
import { type ResendDeps, resendMessage } from './resend.js';
import { Cancelled, MessageDetail, MessagePage, Resent, Stats } from './schemas.js';
import { messageStats } from './stats.js';
import { TrigramSample } from './trigram-sample.js';

export interface MessagesHttpOptions {
  db: Kysely<DB>;
  dialect: Dialect;
  events: EventLog;
  /** The From every message goes out with (the admin UI shows it among the headers). */
  from: string;
  /** Its address (SMTP_FROM_EMAIL): `from:` finds the messages sent without a sender of their own by it. */
  fromEmail: string;
  /** The keyed hash retention gives an address: anonymized messages are listed by it too. */
  hashAddress(address: string): string;
  /** SQLite: brings the search index up to date (messages accepted since its last run). */
  searchIndex: Pick<SearchIndex, 'catchUp'>;
  resend: ResendDeps;
  /** The HTML, link and spam checks of an archived message. */
  checks: Omit<ArchiveChecks, 'db'>;
  /** TRACK_OPENS and TRACK_CLICKS, for the dashboard's engagement counts. */
  tracking: { opens: boolean; clicks: boolean };
}

const Status = Type.Union(MESSAGE_STATUSES.map((s) => Type.Literal(s)));
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

/** The archive: list and read messages and their attachments, cancel, resend, dashboard stats. */
export const messagesHttp: FastifyPluginAsyncTypebox<MessagesHttpOptions> = async (
  r,
  { db, dialect, events, from, fromEmail, hashAddress, searchIndex, resend, checks, tracking },
) => {
  // SQLite's search looks fragments up by their rare trigrams: which ones are rare, it learns from a sample.
  const trigrams = dialect === 'sqlite' ? new TrigramSample(db) : undefined;
  // Taken now, in the background, so that the first search rarely waits for it.
  r.addHook('onReady', async () => {
    void trigrams?.ready();
  });
  r.get(
    '/api/v1/email/messages',
    {
      schema: {
        summary: 'List messages, newest first, with filters or a search',
        description:
          'Filters and `q` combine (every one must hold). `q` is the search box: words and `operator:value` terms (`to:`, `from:`, `subject:`, `id:`, `template:`, `category:`, `tag:`, `status:`, `domain:`, `after:`, `before:`); see docs/api.md. A search it cannot read is a 400 `invalid_search`.',
        querystring: Type.Object({
          q: Type.Optional(Type.String({ maxLength: 1000 })),
          to: Type.Optional(Type.String({ maxLength: 320 })),
          status: Type.Optional(Status),
          template_key: Type.Optional(Type.String({ maxLength: 100 })),
          category: Type.Optional(Type.String({ maxLength: 50 })),
          since: Type.Optional(Instant('From this time on (RFC 3339 date-time, or a day: its start, UTC)')),
          until: Type.Optional(Instant('Before this time (RFC 3339 date-time, or a day: its start, UTC)')),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          cursor: Type.Optional(Type.String({ maxLength: 200 })),
        }),
        response: { 200: MessagePage, ...errors(400) },
      },
    },
    async (request) => {
      const q = request.query;
      const terms = q.q === undefined ? undefined : parseSearchQuery(q.q);
      // The first search of this process waits for the sample rather than read every common trigram's list.
      const context = { dialect, defaultFrom: fromEmail, hashAddress, trigrams };
      if (terms && hasFragments(terms, context)) await trigrams?.ready();
      // Every message accepted before this search is in the index it reads (see search-index.ts).
      if (terms) await searchIndex.catchUp();
      return listMessages(
        db,
        {
          to: q.to,
          toHashed: q.to ? hashAddress(q.to) : undefined,
          status: q.status,
          template_key: q.template_key,
          category: q.category,
          since: q.since ? instant('since', q.since) : undefined,
          until: q.until ? instant('until', q.until) : undefined,
          ...(terms ? { search: { terms, context } } : {}),
          dialect,
        },
        q.limit,
        q.cursor,
      );
    },
  );

  r.get(
    '/api/v1/email/messages/:id',
    {
      schema: {
        summary: 'A message: content, recipients, attachments, every event, its feedback and advice before acting',
        params: IdParams,
        response: { 200: MessageDetail, ...errors(404) },
      },
    },
    async (request) => {
      const m = await getMessage(db, request.params.id);
      return { ...m, from, feedback: latestFeedback(m.events, m.to), advice: await actionAdvice(db, m) };
    },
  );

  r.get(
    '/api/v1/email/messages/:id/attachments/:attachment_id',
    {
      schema: {
        summary: "An attachment's bytes",
        params: Type.Object({ id: Type.String({ format: 'uuid' }), attachment_id: Type.String({ format: 'uuid' }) }),
        // 404 also once retention removed the bytes.
        response: { 200: Download, ...errors(404) },
      },
    },
    async (request, reply) => {
      const a = await getAttachment(db, request.params.id, request.params.attachment_id);
      return sendDownload(reply, { filename: a.filename, contentType: a.content_type, data: a.data });
    },
  );

  r.get(
    '/api/v1/email/messages/:id/html-check',
    {
      schema: {
        summary: "A message's HTML against caniemail.com's data: which email clients will not render what it uses",
        description:
          'Each HTML and CSS feature of the archived HTML (elements, attributes, properties, values, selectors, at-rules ' +
          'of <style> and style=""), how often, its support across email clients and the clients that lack it, then an ' +
          'overall score (null without HTML). Data: caniemail.com (MIT), see docs/admin-ui.md.',
        params: IdParams,
        response: { 200: HtmlCheckResult, ...errors(404) },
      },
    },
    async (request) => archivedHtmlCheck(db, request.params.id),
  );

  r.get(
    '/api/v1/email/messages/:id/link-check',
    {
      schema: {
        summary: "A message's links and image sources, each with what is wrong with it (checked without any request)",
        description:
          'A link holding a sensitive value the archive masks is listed masked (`masked: true`), its host not judged.',
        params: IdParams,
        response: { 200: Type.Object({ links: LinkCheckList }), ...errors(404) },
      },
    },
    async (request) => archivedLinkCheck(db, request.params.id),
  );

  r.get(
    '/api/v1/email/messages/:id/spam-check',
    {
      schema: {
        summary: "A message's SpamAssassin score and the rules that fired (spamd at SPAMD_ADDRESS)",
        description:
          'The message as delivery builds it (headers, DKIM signature), from the archived content (sensitive values ' +
          'masked), or the stored MIME of mail submitted over SMTP. 409 `spam_check_unavailable` without ' +
          '`SPAMD_ADDRESS` or when spamd cannot be reached; 409 `invalid_state` once the content was erased.',
        params: IdParams,
        response: { 200: SpamCheckResult, ...errors(404, 409) },
      },
    },
    async (request) => archivedSpamCheck({ db, ...checks }, request.params.id, request.log),
  );

  // A send key may cancel what it sent; an admin anything.
  r.delete(
    '/api/v1/email/messages/:id',
    // 409 invalid_state: only a queued message can be cancelled.
    {
      config: { auth: 'send' },
      schema: {
        summary: 'Cancel a message not sent yet',
        params: IdParams,
        response: { 200: Cancelled, ...errors(404, 409) },
      },
    },
    async (request) => cancelMessage(db, events, request.params.id, request.principal),
  );

  r.post(
    '/api/v1/email/messages/:id/resend',
    {
      schema: {
        summary: 'Send an archived message again',
        description:
          'Creates a new message (new id and Message-ID) with the archived content, recipients and attachments, linked by `resent_from_id`. 409 `resend_masked_content` when the archive masks sensitive values, 409 `resend_content_erased` after anonymization or erasure, 409 `invalid_state` while an earlier copy of it still waits to go out.',
        params: IdParams,
        response: { 201: Resent, ...errors(404, 409) },
      },
    },
    async (request, reply) => {
      const item = await resendMessage(resend, request.params.id, actorOf(request));
      return reply.status(201).send({ ...item, resent_from_id: request.params.id });
    },
  );

  r.get(
    '/api/v1/email/stats',
    {
      schema: {
        summary: 'Dashboard numbers: counts by status, a daily series, the queue, the latest failures',
        querystring: Type.Object({
          days: Type.Integer({ minimum: 1, maximum: 90, default: 7 }),
          // Minutes east of UTC (Paris in winter: 60), as the browser's -getTimezoneOffset().
          tz_offset: Type.Integer({ minimum: -840, maximum: 840, default: 0 }),
        }),
        response: { 200: Stats },
      },
    },
    async (request) =>
      messageStats(db, { days: request.query.days, tzOffsetMinutes: request.query.tz_offset, tracking }, dialect),
  );
};

/** A time filter: an RFC 3339 date-time or a plain day. */
const Instant = (description: string) =>
  Type.Union([Type.String({ format: 'date-time' }), Type.String({ format: 'date' })], { description });

/**
 * A time filter as milliseconds. The date-time format lets through what no clock reads (second
 * 60 of a leap second, which Date.parse cannot place): a 400, never NaN in a query.
 */
function instant(field: string, value: string): number {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms))
    throw new AppError('invalid_request', `${field}: not a time this server can place (${value.slice(0, 40)})`, {
      field,
    });
  return ms;
}
