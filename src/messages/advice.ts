import { type Static, Type } from '@fastify/type-provider-typebox';
import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { DateTime, NullableInteger, NullableString } from '../platform/http/schemas.js';
import { ALL_SCOPES, findSuppression } from '../suppressions/index.js';
import { type FeedbackView, feedbackOf } from './feedback-view.js';

/**
 * What the operator should know before acting on a message (the admin UI asks first): a Resend
 * to a suppressed address only makes another `suppressed` message, and a Retry of a failure the
 * relay called permanent (550 user unknown) will most likely fail the same way.
 */
export const ActionAdvice = Type.Object({
  suppression: Type.Union([
    Type.Object({
      reason: Type.String(),
      scope: Type.String(),
      details: NullableString,
      created_at: DateTime,
    }),
    Type.Null(),
  ]),
  permanent_failure: Type.Union([Type.Object({ code: NullableInteger, response: NullableString }), Type.Null()]),
});
export type ActionAdvice = Static<typeof ActionAdvice>;

interface EventView {
  type: string;
  at: string | null;
  data: unknown;
}

/** The last bounce or complaint of a message, read as its feedback (null when it had none). */
export function latestFeedback(events: EventView[], recipient: string): FeedbackView | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const f = feedbackOf(events[i]!, recipient);
    if (f) return f;
  }
  return null;
}

/** The last attempt's reply when the message failed on a permanent (5xx) refusal. */
function permanentFailure(status: string, events: EventView[]): ActionAdvice['permanent_failure'] {
  if (status !== 'failed') return null;
  const attempt = [...events].reverse().find((e) => e.type === 'attempt');
  const d = attempt?.data && typeof attempt.data === 'object' ? (attempt.data as Record<string, unknown>) : null;
  const code = typeof d?.code === 'number' ? d.code : Number(d?.code);
  if (!d || !(code >= 500 && code < 600) || d.relay_problem) return null;
  return { code, response: typeof d.response === 'string' ? d.response : null };
}

export async function actionAdvice(
  db: Kysely<DB>,
  m: { to: string; status: string; class: string; events: EventView[] },
): Promise<ActionAdvice> {
  const hit = await findSuppression(db, m.to, [ALL_SCOPES, m.class]);
  return {
    suppression: hit
      ? {
          reason: hit.reason,
          scope: hit.scope,
          details: hit.details,
          created_at: new Date(hit.created_at).toISOString(),
        }
      : null,
    permanent_failure: permanentFailure(m.status, m.events),
  };
}
