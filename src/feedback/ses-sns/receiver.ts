import type { Kysely } from 'kysely';
import type pino from 'pino';
import type { Config } from '../../platform/config.js';
import type { EventLog } from '../../events/index.js';
import type { DB } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { DAY_MS, SNS_DEDUPE_DAYS } from '../../platform/time.js';
import type { SuppressionRules } from '../apply.js';
import { type Applied, applySesEvent } from './apply.js';
import { CertificateStore, type Fetch } from './certificates.js';
import { parseSesEvent } from './ses-event.js';
import { parseEnvelope, type SnsEnvelope, validateAmazonUrl, verifySignature } from './signature.js';

export { SNS_DEDUPE_DAYS };
/**
 * Older messages are refused: their ids may be forgotten, so a captured, validly signed
 * notification replayed later would be applied again. SNS stops retrying within hours.
 */
const SNS_MAX_AGE_MS = (SNS_DEDUPE_DAYS - 1) * DAY_MS;

export type Outcome =
  | { result: 'processed'; applied: Applied }
  | { result: 'duplicate' | 'confirmed' | 'unsubscribed'; message_id: string };

/**
 * Receives SNS HTTP messages: topic allow-list, then certificate URL, then signature, before
 * anything is read from the message; then each SNS MessageId is applied once, in one
 * transaction with its effects (so a crash means SNS retries and nothing is half done).
 */
export class SnsReceiver {
  /** Amazon, the one outside party: tests stand in for it here. */
  fetch: Fetch = (url, init) => globalThis.fetch(url, init);
  private readonly certs: CertificateStore;
  private readonly topics: Set<string>;
  private readonly rules: SuppressionRules;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly events: EventLog,
    config: Config,
    private readonly log: pino.Logger,
  ) {
    this.certs = new CertificateStore(config.sns.certCacheDir, () => this.fetch);
    this.topics = new Set(config.sns.allowedTopicArns);
    this.rules = config.feedback;
  }

  async receive(raw: string, from: string): Promise<Outcome> {
    const e = parseEnvelope(raw);
    try {
      if (!this.topics.has(e.TopicArn))
        throw new AppError('sns_topic_not_allowed', `Topic ${e.TopicArn} is not in SNS_ALLOWED_TOPIC_ARNS`, {
          topic_arn: e.TopicArn,
        });
      verifySignature(e, await this.certs.get(e.SigningCertURL));
      const sentAt = Date.parse(e.Timestamp);
      if (!(sentAt > Date.now() - SNS_MAX_AGE_MS)) {
        throw new AppError(
          'sns_message_expired',
          `SNS message of ${e.Timestamp} is older than ${SNS_DEDUPE_DAYS - 1} days (a replay?)`,
          { timestamp: e.Timestamp },
        );
      }
    } catch (err) {
      if (err instanceof AppError && err.status === 403) {
        this.log.warn(
          { from, code: err.code, topic: e.TopicArn, sns_message_id: e.MessageId, cert_url: e.SigningCertURL },
          `SNS message refused: ${err.message}`,
        );
      }
      throw err;
    }
    if (e.Type === 'SubscriptionConfirmation') return this.confirm(e);
    if (e.Type === 'UnsubscribeConfirmation') {
      // Not re-subscribing on our own: an operator removed the subscription on purpose.
      this.log.warn({ topic: e.TopicArn }, 'SNS subscription removed; SES events from this topic stop');
      await this.remember(this.db, e);
      return { result: 'unsubscribed', message_id: e.MessageId };
    }
    const now = Date.now();
    const event = parseSesEvent(e.Message, now);
    const outcome = await this.db.transaction().execute(async (trx) => {
      if (!(await this.remember(trx, e))) return null;
      return applySesEvent(trx, this.events, this.rules, event, e.MessageId, now);
    });
    if (!outcome) return { result: 'duplicate', message_id: e.MessageId };
    if (outcome.kind !== 'Other' && !outcome.messageId) {
      this.log.info(
        {
          sns_message_id: e.MessageId,
          kind: outcome.kind,
          ses_message_id: event.kind !== 'Other' ? event.ids.sesMessageId : null,
        },
        'SES event for no known message',
      );
    }
    return { result: 'processed', applied: outcome };
  }

  /** Returns false when this MessageId was seen before. */
  private async remember(db: Kysely<DB>, e: SnsEnvelope): Promise<boolean> {
    const r = await db
      .insertInto('sns_messages')
      .values({ message_id: e.MessageId, type: e.Type, topic_arn: e.TopicArn, received_at: Date.now() })
      .onConflict((oc) => oc.column('message_id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  private async confirm(e: SnsEnvelope): Promise<Outcome> {
    const url = validateAmazonUrl(e.SubscribeURL!, 'SubscribeURL', false);
    try {
      const res = await this.fetch(url.href, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } catch (err) {
      throw new AppError('upstream_error', `Could not confirm the SNS subscription: ${(err as Error).message}`, {
        topic_arn: e.TopicArn,
      });
    }
    await this.remember(this.db, e);
    this.log.info({ topic: e.TopicArn }, 'SNS subscription confirmed');
    return { result: 'confirmed', message_id: e.MessageId };
  }
}
