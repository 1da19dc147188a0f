import { createVerify, X509Certificate } from 'node:crypto';
import { AppError } from '../../platform/errors.js';
import { echo } from '../untrusted.js';

/** An SNS HTTP(S) message, as posted by Amazon (fields named as in its JSON). */
export interface SnsEnvelope {
  Type: 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string | null;
  SubscribeURL?: string;
  Token?: string;
}

const TYPES = ['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation'];

/** Checks the shape only; trust comes from the signature. */
export function parseEnvelope(raw: string): SnsEnvelope {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new AppError('invalid_json', 'The body is not an SNS message (invalid JSON)');
  }
  const e = v as Record<string, unknown>;
  const required = [
    'Type',
    'MessageId',
    'TopicArn',
    'Message',
    'Timestamp',
    'SignatureVersion',
    'Signature',
    'SigningCertURL',
  ];
  if (e?.Type !== 'Notification') required.push('SubscribeURL', 'Token');
  const missing = required.filter((k) => typeof e?.[k] !== 'string');
  if (missing.length > 0 || !TYPES.includes(e.Type as string)) {
    throw new AppError('invalid_request', 'The body is not an SNS message', {
      missing,
      type: e?.Type === undefined ? null : echo(e.Type),
    });
  }
  // SNS MessageIds are UUIDs; one is stored (sns_messages), so no NUL and no megabyte of it.
  const id = e.MessageId as string;
  if (id.length > 128 || id.includes('\u0000'))
    throw new AppError('invalid_request', 'The SNS MessageId is longer than 128 characters or holds a NUL');
  return e as unknown as SnsEnvelope;
}

/**
 * The string Amazon signs: "Name\nvalue\n" for each field, in this order. Subject only when
 * the notification has one.
 */
export function canonicalString(e: SnsEnvelope): string {
  const fields =
    e.Type === 'Notification'
      ? ['Message', 'MessageId', ...(typeof e.Subject === 'string' ? ['Subject'] : []), 'Timestamp', 'TopicArn', 'Type']
      : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  return fields.map((f) => `${f}\n${(e as unknown as Record<string, string>)[f]}\n`).join('');
}

/**
 * The SNS host of a topic's region, `sns.<region>.amazonaws.com` (`.amazonaws.com.cn` in China),
 * from its ARN (arn:aws:sns:<region>:<account>:<name>, arn:aws-cn:…, arn:aws-us-gov:…); null when
 * the ARN names no region. Amazon signs a topic's messages with a certificate on its region's host
 * and confirms its subscriptions there: no other host is trusted for it. A pattern such as
 * `sns.*.amazonaws.com` would also let in `sns.s3.amazonaws.com`, the S3 bucket named "sns", whose
 * owner could serve any certificate.
 */
export function snsHostOf(topicArn: string): string | null {
  const m = /^arn:(aws|aws-cn|aws-us-gov):sns:([a-z]{2}(?:-[a-z]+)+-\d{1,2}):\d{12}:/.exec(topicArn);
  if (!m) return null;
  return `sns.${m[2]}.amazonaws.com${m[1] === 'aws-cn' ? '.cn' : ''}`;
}

/** Amazon signs with /SimpleNotificationService-<hex>.pem at the root of the SNS host. */
const CERT_PATH = /^\/SimpleNotificationService-[A-Za-z0-9]{1,128}\.pem$/;

/**
 * Only the topic's own SNS host (`host`, snsHostOf), over https, on the default port: anything
 * else would let a forger sign with their own certificate (the known bypass of naive verifiers).
 */
export function validateAmazonUrl(raw: string, what: string, pemPath: boolean, host: string): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new AppError('sns_certificate_untrusted', `${what} is not a URL`, { url: echo(raw) });
  }
  const ok =
    u.protocol === 'https:' &&
    u.hostname === host &&
    u.port === '' &&
    u.username === '' &&
    u.password === '' &&
    (!pemPath || (CERT_PATH.test(u.pathname) && u.search === '' && !/\.\.|%2e/i.test(raw)));
  if (!ok)
    throw new AppError(
      'sns_certificate_untrusted',
      `${what} is not an Amazon SNS ${pemPath ? 'certificate ' : ''}URL of the topic's region (${host})`,
      { url: echo(raw) },
    );
  return u;
}

/** SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA; the certificate must be in date. */
export function verifySignature(e: SnsEnvelope, certPem: string, now = Date.now()): void {
  const algorithm = e.SignatureVersion === '1' ? 'RSA-SHA1' : e.SignatureVersion === '2' ? 'RSA-SHA256' : null;
  if (!algorithm)
    throw new AppError(
      'sns_signature_invalid',
      `Unsupported SignatureVersion ${JSON.stringify(echo(e.SignatureVersion))}`,
    );
  const cert = new X509Certificate(certPem);
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) {
    throw new AppError('sns_certificate_untrusted', 'The signing certificate is not valid at this date', {
      valid_to: cert.validTo,
    });
  }
  const ok = createVerify(algorithm).update(canonicalString(e), 'utf8').verify(cert.publicKey, e.Signature, 'base64');
  if (!ok) throw new AppError('sns_signature_invalid', 'The SNS signature does not match the message');
}
