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
import { echo } from '../untrusted.js';
import { parseEnvelope, type SnsEnvelope, snsHostOf, validateAmazonUrl, verifySignature } from './signature.js';

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
 * Receives SNS HTTP messages: topic allow-list, then age, then the certificate URL (the topic's
 * region's SNS host only), then signature, before anything is read from the message; then each
 * SNS MessageId is applied once, in one transaction with its effects (so a crash means SNS
 * retries and nothing is half done). A refusal repeats at most 200 characters of any value the
 * client chose, in its answer and in the log.
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
    let subscribeUrl: URL | undefined;
    try {
      if (!this.topics.has(e.TopicArn))
        throw new AppError('sns_topic_not_allowed', `Topic ${echo(e.TopicArn)} is not in SNS_ALLOWED_TOPIC_ARNS`, {
          topic_arn: echo(e.TopicArn),
        });
      const host = snsHostOf(e.TopicArn);
      if (!host)
        throw new AppError('sns_certificate_untrusted', 'The topic ARN names no AWS region: no SNS host to trust', {
          topic_arn: e.TopicArn,
        });
      // Before the certificate, which may have to be fetched: an old message costs no fetch.
      const sentAt = Date.parse(e.Timestamp);
      if (!(sentAt > Date.now() - SNS_MAX_AGE_MS)) {
        throw new AppError(
          'sns_message_expired',
          `SNS message of ${echo(e.Timestamp)} is older than ${SNS_DEDUPE_DAYS - 1} days (a replay?)`,
          { timestamp: echo(e.Timestamp) },
        );
      }
      verifySignature(e, await this.certs.get(e.SigningCertURL, host));
      if (e.Type === 'SubscriptionConfirmation')
        subscribeUrl = validateAmazonUrl(e.SubscribeURL!, 'SubscribeURL', false, host);
    } catch (err) {
      if (err instanceof AppError && err.status === 403) {
        this.log.warn(
          {
            from,
            code: err.code,
            topic: echo(e.TopicArn),
            sns_message_id: e.MessageId,
            cert_url: echo(e.SigningCertURL),
          },
          `SNS message refused: ${err.message}`,
        );
      }
      throw err;
    }
    if (subscribeUrl) return this.confirm(e, subscribeUrl);
    if (e.Type === 'UnsubscribeConfirmation') {
      if (!(await this.remember(this.db, e))) return { result: 'duplicate', message_id: e.MessageId };
      // Not re-subscribing on our own: an operator removed the subscription on purpose.
      this.log.warn({ topic: e.TopicArn }, 'SNS subscription removed; SES events from this topic stop');
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
          ses_message_id: event.kind !== 'Other' ? echo(event.ids.sesMessageId) : null,
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

  /**
   * Fetches the SubscribeURL once per MessageId: the id is remembered first, so a replayed
   * confirmation (or one arriving twice at once) fetches nothing; it is forgotten again when the
   * fetch fails, so SNS's retry can confirm.
   */
  private async confirm(e: SnsEnvelope, url: URL): Promise<Outcome> {
    if (!(await this.remember(this.db, e))) return { result: 'duplicate', message_id: e.MessageId };
    try {
      const res = await this.fetch(url.href, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } catch (err) {
      await this.db.deleteFrom('sns_messages').where('message_id', '=', e.MessageId).execute();
      throw new AppError('upstream_error', `Could not confirm the SNS subscription: ${echo((err as Error).message)}`, {
        topic_arn: e.TopicArn,
      });
    }
    this.log.info({ topic: e.TopicArn }, 'SNS subscription confirmed');
    return { result: 'confirmed', message_id: e.MessageId };
  }
}
