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
import { claimMailgunToken, type MailgunSignature, parseMailgun, verifyMailgunSignature } from './webhooks/mailgun.js';
import { parsePostmark, verifyPostmark } from './webhooks/postmark.js';
import type { ReplayCache } from './webhooks/replay-cache.js';
import { parseSendGrid, sendGridPublicKey, verifySendGrid } from './webhooks/sendgrid.js';
import { storableStrings } from './untrusted.js';

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
    // Each provider's credentials or signature first; the body is parsed only after them, except
    // Mailgun's, whose signature is inside it (its body is at most 256 KiB: http.ts).
    let mailgun: MailgunSignature | undefined;
    if (name === 'postmark') refuse(verifyPostmark(req.headers, f.postmark!));
    else if (name === 'brevo')
      refuse(verifyBrevo(req.headers, { token: f.brevo!.token, queryParam: f.brevo!.queryParam }, req.query));
    else if (name === 'sendgrid') refuse(verifySendGrid(req.headers, req.body, { publicKey: this.sendgridKey! }));
    // No NUL (PostgreSQL's text cannot hold one) nor unpaired surrogate: U+FFFD, the event is kept.
    const body = storableStrings(parseJson(req.body), req.body);
    if (name === 'mailgun') {
      // Signature and timestamp before any transaction; only the token's insert is inside it, below.
      mailgun = verifyMailgunSignature(body, { signingKey: f.mailgunSigningKeys });
      refuse(mailgun);
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
      // The token is remembered with the events it applied: a request that fails here can be retried.
      if (mailgun) refuse(await claimMailgunToken(mailgun, new DatabaseReplayCache(trx)));
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
