import { createSign, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Stand-ins for Amazon: a self-signed signing certificate made at test time (openssl), SNS
 * envelopes signed exactly as SNS signs them, and SES notifications shaped as in Amazon's
 * "Amazon SNS notification examples for Amazon SES".
 */
export const REGION_HOST = 'sns.eu-west-1.amazonaws.com';
export const CERT_FILE = 'SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem';
export const CERT_URL = `https://${REGION_HOST}/${CERT_FILE}`;
export const TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:postier-ses-feedback';

export interface TestSigner {
  certPem: string;
  keyPem: string;
}

export function makeSigner(cn = 'sns.amazonaws.com'): TestSigner {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-sns-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${dir}/key.pem`,
      '-out',
      `${dir}/cert.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
    ],
    { stdio: 'ignore' },
  );
  return { certPem: readFileSync(`${dir}/cert.pem`, 'utf8'), keyPem: readFileSync(`${dir}/key.pem`, 'utf8') };
}

/** What an operator does to pre-load a certificate: <cache dir>/<host>/<file name>. */
export function placeCert(cacheDir: string, signer: TestSigner, host = REGION_HOST, file = CERT_FILE): void {
  mkdirSync(path.join(cacheDir, host), { recursive: true });
  writeFileSync(path.join(cacheDir, host, file), signer.certPem);
}

type Envelope = Record<string, string>;

export function signEnvelope(e: Envelope, signer: TestSigner, version: '1' | '2' = '1'): Envelope {
  const fields =
    e.Type === 'Notification'
      ? ['Message', 'MessageId', ...(e.Subject !== undefined ? ['Subject'] : []), 'Timestamp', 'TopicArn', 'Type']
      : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  const canonical = fields.map((f) => `${f}\n${e[f]}\n`).join('');
  const signature = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256')
    .update(canonical)
    .sign(signer.keyPem, 'base64');
  return { ...e, SignatureVersion: version, Signature: signature };
}

export function notification(
  message: object,
  opts: { subject?: string; topicArn?: string; certUrl?: string; messageId?: string } = {},
): Envelope {
  return {
    Type: 'Notification',
    MessageId: opts.messageId ?? randomUUID(),
    TopicArn: opts.topicArn ?? TOPIC_ARN,
    ...(opts.subject !== undefined ? { Subject: opts.subject } : {}),
    Message: JSON.stringify(message),
    Timestamp: new Date().toISOString(),
    SigningCertURL: opts.certUrl ?? CERT_URL,
    UnsubscribeURL: `https://${REGION_HOST}/?Action=Unsubscribe&SubscriptionArn=${TOPIC_ARN}:c9135db0-26c4-47ec-8998-413945fb5a96`,
  };
}

export function subscriptionConfirmation(opts: { topicArn?: string; subscribeUrl?: string } = {}): Envelope {
  const topic = opts.topicArn ?? TOPIC_ARN;
  const token =
    '2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736';
  return {
    Type: 'SubscriptionConfirmation',
    MessageId: randomUUID(),
    Token: token,
    TopicArn: topic,
    Message: `You have chosen to subscribe to the topic ${topic}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`,
    SubscribeURL:
      opts.subscribeUrl ?? `https://${REGION_HOST}/?Action=ConfirmSubscription&TopicArn=${topic}&Token=${token}`,
    Timestamp: new Date().toISOString(),
    SigningCertURL: CERT_URL,
  };
}

interface MailRef {
  sesMessageId: string;
  to: string;
  /** Our Message-ID header as SES echoes it (without angle brackets in commonHeaders). */
  messageIdHeader?: string;
}

function mail(ref: MailRef) {
  const headers = [
    { name: 'From', value: '"RGZ Notifications" <noreply@rgz.bj>' },
    { name: 'To', value: ref.to },
    ...(ref.messageIdHeader ? [{ name: 'Message-ID', value: ref.messageIdHeader }] : []),
    { name: 'Subject', value: 'Hello' },
    { name: 'Content-Type', value: 'multipart/alternative; boundary="----=_Part_0"' },
    { name: 'Date', value: 'Wed, 27 Jan 2016 14:05:45 +0000' },
  ];
  return {
    timestamp: '2016-01-27T14:59:38.237Z',
    source: 'noreply@rgz.bj',
    sourceArn: 'arn:aws:ses:eu-west-1:123456789012:identity/rgz.bj',
    sourceIp: '127.0.3.0',
    sendingAccountId: '123456789012',
    callerIdentity: 'IAM_user_or_role_name',
    messageId: ref.sesMessageId,
    destination: [ref.to],
    headersTruncated: false,
    headers,
    commonHeaders: {
      from: ['RGZ Notifications <noreply@rgz.bj>'],
      date: 'Wed, 27 Jan 2016 14:05:45 +0000',
      to: [ref.to],
      ...(ref.messageIdHeader ? { messageId: ref.messageIdHeader } : {}),
      subject: 'Hello',
    },
  };
}

export const bounce = (
  ref: MailRef,
  type: 'Permanent' | 'Transient' | 'Undetermined' = 'Permanent',
  subType = 'General',
) => ({
  notificationType: 'Bounce',
  bounce: {
    bounceType: type,
    reportingMTA: 'dns; email.example.com',
    bouncedRecipients: [
      {
        emailAddress: ref.to,
        status: '5.1.1',
        action: 'failed',
        diagnosticCode: `smtp; 550 5.1.1 <${ref.to}>... User`,
      },
    ],
    bounceSubType: subType,
    timestamp: '2016-01-27T14:59:38.237Z',
    feedbackId: '00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000',
    remoteMtaIp: '127.0.2.0',
  },
  mail: mail(ref),
});

export const complaint = (ref: MailRef) => ({
  notificationType: 'Complaint',
  complaint: {
    userAgent: 'AnyCompany Feedback Loop (V0.01)',
    complainedRecipients: [{ emailAddress: ref.to }],
    complaintFeedbackType: 'abuse',
    arrivalDate: '2016-01-27T14:59:38.237Z',
    timestamp: '2016-01-27T14:59:38.237Z',
    feedbackId: '000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000',
  },
  mail: mail(ref),
});

export const delivery = (ref: MailRef) => ({
  notificationType: 'Delivery',
  mail: mail(ref),
  delivery: {
    timestamp: '2016-01-27T14:59:38.237Z',
    recipients: [ref.to],
    processingTimeMillis: 546,
    reportingMTA: 'a8-70.smtp-out.amazonses.com',
    smtpResponse: '250 ok:  Message 64111812 accepted',
    remoteMtaIp: '127.0.2.0',
  },
});

/** SES event publishing: same objects under `eventType`. */
export const asEventPublishing = (n: { notificationType: string } & Record<string, unknown>) => {
  const { notificationType, ...rest } = n;
  return { eventType: notificationType, ...rest };
};
