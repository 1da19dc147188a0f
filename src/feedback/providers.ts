/**
 * Provider webhooks (Postmark, Mailgun, SendGrid, Brevo): verified the way each provider
 * documents (webhooks/*.ts), refused whole when not, then each event the body holds (batched
 * bodies hold many) applied through the one apply function, in one transaction with the
 * replay record (Mailgun's token), so a request that fails after verification can be retried
 * by the provider and one that succeeded cannot be played again.
 */
import type { KeyObject } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type pino from 'pino';
import type { EventLog } from '../events/index.js';
import type { Config } from '../platform/config.js';
import type { DB } from '../platform/db/schema.js';
import { AppError, type ErrorCode } from '../platform/errors.js';
import { applyFeedback } from './apply.js';
import type { FeedbackEvent } from './types.js';
import { verifyBrevo, parseBrevo } from './webhooks/brevo.js';
import type { HeaderBag, VerifyFailure, VerifyResult } from './webhooks/common.js';
import { parseMailgun, verifyMailgun } from './webhooks/mailgun.js';
import { parsePostmark, verifyPostmark } from './webhooks/postmark.js';
import type { ReplayCache } from './webhooks/replay-cache.js';
import { parseSendGrid, sendGridPublicKey, verifySendGrid } from './webhooks/sendgrid.js';

export const PROVIDERS = ['postmark', 'mailgun', 'sendgrid', 'brevo'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export interface ProviderRequest {
  headers: HeaderBag;
  /** The body exactly as received (SendGrid signs these bytes). */
  body: string;
  query: Record<string, unknown>;
  ip?: string;
}

export interface ProviderOutcome {
  provider: ProviderName;
  /** Events the body held (opens, clicks and the like included). */
  events: number;
  applied: number;
  duplicates: number;
  /** Applied events that named a message of ours. */
  matched: number;
  suppressed: string[];
}

const REFUSAL: Record<VerifyFailure, ErrorCode> = {
  missing_credentials: 'webhook_missing_credentials',
  bad_credentials: 'webhook_bad_credentials',
  missing_signature: 'webhook_missing_signature',
  bad_signature: 'webhook_bad_signature',
  stale_timestamp: 'webhook_stale_timestamp',
  replayed: 'webhook_replayed',
  malformed: 'webhook_bad_signature',
};

/** Mailgun's one-time tokens, remembered in the transaction that applies their events. */
export class DatabaseReplayCache implements ReplayCache {
  constructor(private readonly trx: Transaction<DB>) {}

  async remember(key: string, expiresAt: number): Promise<boolean> {
    const r = await this.trx
      .insertInto('feedback_replay_tokens')
      .values({ token: key.slice(0, 600), expires_at: expiresAt })
      .onConflict((oc) => oc.column('token').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new AppError('invalid_json', 'The webhook body is not JSON');
  }
}

export class ProviderWebhooks {
  private readonly sendgridKey: KeyObject | undefined;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly events: EventLog,
    private readonly config: Config,
    private readonly log: pino.Logger,
  ) {
    const k = config.feedback.sendgridPublicKey;
    this.sendgridKey = k ? sendGridPublicKey(k) : undefined;
  }

  configured(name: ProviderName): boolean {
    const f = this.config.feedback;
    if (name === 'postmark') return f.postmark !== undefined;
    if (name === 'mailgun') return f.mailgunSigningKeys.length > 0;
    if (name === 'sendgrid') return this.sendgridKey !== undefined;
    return f.brevo !== undefined;
  }

  async receive(name: ProviderName, req: ProviderRequest): Promise<ProviderOutcome> {
    if (!this.configured(name))
      throw new AppError('feedback_provider_not_configured', `No ${name} webhook is configured on this server`);
    const f = this.config.feedback;
    const now = Date.now();
    const refuse = (v: VerifyResult) => {
      if (v.ok) return;
      this.log.warn({ provider: name, reason: v.reason, from: req.ip }, 'provider webhook refused');
      throw new AppError(REFUSAL[v.reason], `${name} webhook refused: ${v.reason.replace(/_/g, ' ')}`);
    };
    let body: unknown;
    if (name === 'postmark') {
      refuse(verifyPostmark(req.headers, f.postmark!));
      body = parseJson(req.body);
    } else if (name === 'brevo') {
      refuse(verifyBrevo(req.headers, { token: f.brevo!.token, queryParam: f.brevo!.queryParam }, req.query));
      body = parseJson(req.body);
    } else if (name === 'sendgrid') {
      refuse(verifySendGrid(req.headers, req.body, { publicKey: this.sendgridKey! }));
      body = parseJson(req.body);
    } else {
      // Mailgun signs inside the body; its token is remembered with the events, below.
      body = parseJson(req.body);
    }
    const parsed: FeedbackEvent[] =
      name === 'postmark'
        ? parsePostmark(body, now)
        : name === 'brevo'
          ? parseBrevo(body, now)
          : name === 'sendgrid'
            ? parseSendGrid(body, now)
            : parseMailgun(body, now);
    const out: ProviderOutcome = {
      provider: name,
      events: parsed.length,
      applied: 0,
      duplicates: 0,
      matched: 0,
      suppressed: [],
    };
    await this.db.transaction().execute(async (trx) => {
      if (name === 'mailgun') {
        refuse(
          await verifyMailgun(body, { signingKey: f.mailgunSigningKeys, replayCache: new DatabaseReplayCache(trx) }),
        );
      }
      for (const e of parsed) {
        const a = await applyFeedback(trx, this.events, f, e, {
          source: name,
          sourceEvent: `${name}:${e.dedupeId}`,
          feedbackId: e.dedupeId,
          now,
          extra: { provider_message_id: e.providerMessageId },
        });
        if (a.duplicate) out.duplicates++;
        else if (e.kind !== 'other' && e.kind !== 'resubscribe') out.applied++;
        if (a.messageId) out.matched++;
        out.suppressed.push(...a.suppressed);
      }
    });
    return out;
  }
}
