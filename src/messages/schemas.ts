import { type Static, Type } from '@fastify/type-provider-typebox';
import { MESSAGE_STATUSES } from '../platform/db/schema.js';
import { ActionAdvice } from './advice.js';
import {
  DateTime,
  MessageStatus,
  Nullable,
  NullableDateTime,
  NullableInteger,
  NullableString,
  SendResultItem,
  StringEnum,
} from '../platform/http/schemas.js';

/**
 * What a bounce or a complaint said, read back from its event: the operator sees the type, the
 * status code, the diagnostic text, the feedback id and the suppression it caused, instead of
 * the relay's `250 Ok` that was the last thing the message row knew.
 */
export const FeedbackView = Type.Object({
  kind: StringEnum(['bounce', 'complaint'] as const),
  /** Bounce: Permanent, Transient, Undetermined; complaint: the feedback type (abuse, …). */
  type: NullableString,
  subtype: NullableString,
  /** The enhanced status code of the recipient's bounce (5.1.1), when given. */
  status_code: NullableString,
  diagnostic: NullableString,
  feedback_id: NullableString,
  /** The addresses this feedback added to the suppression list. */
  suppressed: Type.Array(Type.String()),
  at: NullableDateTime,
});
export type FeedbackView = Static<typeof FeedbackView>;

export const MessageSummary = Type.Object({
  id: Type.String({ format: 'uuid' }),
  to: Type.String(),
  subject: Type.String(),
  status: MessageStatus,
  /** Null for mail sent without a stored template (raw, batch and SMTP sends). */
  template_key: NullableString,
  category: Type.String(),
  created_at: DateTime,
  sent_at: NullableDateTime,
  delivered_at: NullableDateTime,
});

export const MessagePage = Type.Object({
  items: Type.Array(MessageSummary),
  total: Type.Integer({ description: 'Messages matching, counted up to 10,000' }),
  total_capped: Type.Boolean({ description: 'More than 10,000 match: `total` is 10,000' }),
  next_cursor: Nullable(Type.String({ description: 'Pass as `cursor` for the next page; null on the last' })),
});

/** One envelope recipient (to, cc, bcc) and where it stands (delivery's recipientsView). */
const Recipient = Type.Object({
  address: Type.String(),
  kind: StringEnum(['to', 'cc', 'bcc'] as const),
  status: StringEnum(['accepted', 'deferred', 'refused', 'failed', 'suppressed', 'pending', 'not_sent'] as const),
  code: NullableInteger,
  enhanced: NullableString,
  response: NullableString,
  attempts: Type.Integer(),
  at: NullableDateTime,
  relay_problem: NullableString,
});

/** A message with its content, recipients, attachments (metadata) and every event. */
export const MessageDetail = Type.Object({
  ...MessageSummary.properties,
  template_version: NullableInteger,
  locale: NullableString,
  class: Type.String(),
  source_endpoint: Type.String(),
  source: Type.String({ description: 'The door it came in by: api, batch, smtp, resend, test, cli' }),
  from_email: Nullable(Type.String({ description: 'Its own sender; null: the configured SMTP_FROM_EMAIL' })),
  from_name: NullableString,
  tags: Type.Array(Type.String()),
  metadata: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  cc: Type.Array(Type.String()),
  bcc: Type.Array(Type.String()),
  reply_to: NullableString,
  html_content: NullableString,
  text_content: NullableString,
  attachments_count: Type.Integer(),
  attempts: Type.Integer(),
  max_attempts: Type.Integer(),
  next_attempt_at: NullableDateTime,
  smtp_message_id: Type.String(),
  provider_message_id: NullableString,
  smtp_response: NullableString,
  bounce_type: NullableString,
  bounce_subtype: NullableString,
  bounce_category: Type.Unsafe<string | null>({
    type: ['string', 'null'],
    description:
      'Why it bounced: unknown_user, mailbox_full, domain_not_found, policy_or_spam_block, message_too_large, network, other',
  }),
  error_message: NullableString,
  is_test: Type.Boolean(),
  resent_from_id: NullableString,
  anonymized_at: NullableDateTime,
  updated_at: NullableDateTime,
  recipients: Type.Array(Recipient),
  attachments: Type.Array(
    Type.Object({
      id: Type.String(),
      filename: Type.String(),
      content_type: Type.String(),
      size_bytes: Type.Integer(),
      sha256: Type.String(),
    }),
  ),
  events: Type.Array(
    Type.Object({
      id: Type.Integer(),
      type: Type.String(),
      at: NullableDateTime,
      data: Type.Unknown({ description: 'Free-form: what the event records' }),
    }),
  ),
  from: Type.String({ description: 'The sender every message goes out with' }),
  /** Its last bounce or complaint: type, status code, diagnostic, feedback id, suppression caused. */
  feedback: Type.Union([FeedbackView, Type.Null()]),
  /** What a Resend or a Retry would meet (a suppressed address, a permanent failure). */
  advice: ActionAdvice,
});

export const Cancelled = Type.Object({
  id: Type.String({ format: 'uuid' }),
  status: StringEnum(['cancelled'] as const),
  cancelled_at: DateTime,
});

export const Resent = Type.Object({ ...SendResultItem.properties, resent_from_id: Type.String({ format: 'uuid' }) });

type Counts = Record<(typeof MESSAGE_STATUSES)[number], ReturnType<typeof Type.Integer>>;
const StatusCounts = Type.Object(Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, Type.Integer()])) as Counts);

export const Stats = Type.Object({
  generated_at: DateTime,
  days: Type.Integer(),
  tz_offset: Type.Integer({ description: 'Minutes east of UTC the days are counted in' }),
  today: StatusCounts,
  period: StatusCounts,
  series: Type.Array(
    Type.Object({
      day: Type.String({ format: 'date' }),
      sent: Type.Integer(),
      captured: Type.Integer(),
      delivered: Type.Integer(),
      bounced: Type.Integer(),
      failed: Type.Integer(),
    }),
  ),
  queue: Type.Object({
    depth: Type.Integer(),
    oldest_queued_at: NullableDateTime,
    oldest_age_seconds: NullableInteger,
  }),
  engagement: Type.Object({
    tracking: Type.Object({
      opens: Type.Boolean({ description: 'TRACK_OPENS' }),
      clicks: Type.Boolean({ description: 'TRACK_CLICKS' }),
    }),
    opened: Type.Integer({ description: 'Messages opened by a person in the period (machines not counted)' }),
    clicked: Type.Integer({ description: 'Messages with a link followed by a person in the period' }),
    machine_opens: Type.Integer({ description: 'Opens by machines in the period, recorded and not counted' }),
    machine_clicks: Type.Integer({ description: 'Clicks by machines in the period, recorded and not counted' }),
  }),
  latest_failures: Type.Array(
    Type.Object({
      id: Type.String({ format: 'uuid' }),
      to: Type.String(),
      subject: Type.String(),
      status: MessageStatus,
      template_key: NullableString,
      reason: NullableString,
      /** A bounce or complaint: what its feedback said (null for other failures). */
      feedback: Type.Union([FeedbackView, Type.Null()]),
      at: DateTime,
    }),
  ),
});
