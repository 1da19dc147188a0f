import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnsReceiver } from '../src/feedback/index.js';
import {
  CERT_REFUSED_MS,
  CERT_UNREACHABLE_MS,
  CertificateStore,
  MAX_CERT_FETCHES,
} from '../src/feedback/ses-sns/certificates.js';
import { snsHostOf } from '../src/feedback/ses-sns/signature.js';
import { createLogger } from '../src/platform/log.js';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import {
  bounce,
  CERT_FILE,
  makeSigner,
  notification,
  placeCert,
  REGION_HOST,
  signEnvelope,
  subscriptionConfirmation,
  TOPIC_ARN,
} from './helpers/sns.js';

const signer = makeSigner();
const CN_TOPIC = 'arn:aws-cn:sns:cn-north-1:123456789012:postier-ses-feedback';
const CN_HOST = 'sns.cn-north-1.amazonaws.com.cn';
const certName = (i: number | string) => `SimpleNotificationService-${String(i).padStart(32, '0')}.pem`;

describe('the SNS host trusted for a topic', () => {
  it("is sns.<the topic's region>.amazonaws.com, .com.cn in China", () => {
    expect(snsHostOf(TOPIC_ARN)).toBe('sns.eu-west-1.amazonaws.com');
    expect(snsHostOf(CN_TOPIC)).toBe(CN_HOST);
    expect(snsHostOf('arn:aws-us-gov:sns:us-gov-west-1:123456789012:t')).toBe('sns.us-gov-west-1.amazonaws.com');
    // "s3" is no region: the S3 bucket named "sns" (sns.s3.amazonaws.com) is never an SNS host.
    expect(snsHostOf('arn:aws:sns:s3:123456789012:t')).toBeNull();
    expect(snsHostOf('arn:aws:sns:s3-us-west-2:123456789012:t')).toBeNull();
  });
});

/**
 * Certificate fetches are bounded: one per URL at a time, MAX_CERT_FETCHES in all (then 503), and
 * a failed one answered again without fetching for a while: 60 s when Amazon said no such
 * certificate (403), 10 s when it could not be reached (503, so SNS's retry 20 s later fetches).
 */
describe('SNS certificate fetches', () => {
  const url = (i: number | string) => `https://${REGION_HOST}/${certName(i)}`;
  function store(fetch: (url: string) => Promise<Response>) {
    let clock = Date.now();
    const calls: string[] = [];
    const s = new CertificateStore(
      mkdtempSync(path.join(tmpdir(), 'postier-certs-')),
      () => (u) => {
        calls.push(u);
        return fetch(u);
      },
      () => clock,
    );
    return { s, calls, advance: (ms: number) => (clock += ms) };
  }
  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { open, opened };
  };

  it('fetches a URL once however many requests wait for it', async () => {
    const g = gate();
    const { s, calls } = store(async () => {
      await g.opened;
      return new Response(signer.certPem);
    });
    const all = Promise.all([1, 2, 3, 4, 5, 6].map(() => s.get(url(1), REGION_HOST)));
    g.open();
    expect(await all).toEqual(Array(6).fill(signer.certPem));
    expect(calls).toEqual([url(1)]);
  });

  it(`fetches at most ${MAX_CERT_FETCHES} certificates at once; past that, 503 unavailable, not remembered`, async () => {
    const g = gate();
    const { s, calls } = store(async () => {
      await g.opened;
      return new Response(signer.certPem);
    });
    const first = Array.from({ length: MAX_CERT_FETCHES }, (_, i) => s.get(url(i), REGION_HOST));
    // Let each reach its fetch (each first looks on disk).
    while (calls.length < MAX_CERT_FETCHES) await new Promise((r) => setTimeout(r, 5));
    const over = await s.get(url('over'), REGION_HOST).catch((e) => e);
    expect(over).toMatchObject({ code: 'unavailable', status: 503 });
    expect(calls).toHaveLength(MAX_CERT_FETCHES);
    g.open();
    await Promise.all(first);
    // Nothing of the refusal is remembered: once the others are done, it is fetched.
    expect(await s.get(url('over'), REGION_HOST)).toBe(signer.certPem);
  });

  it('remembers "no such certificate" (403) for 60 s without fetching again', async () => {
    const { s, calls, advance } = store(async () => new Response('<Error>NoSuchKey</Error>', { status: 404 }));
    const first = await s.get(url(1), REGION_HOST).catch((e) => e);
    expect(first).toMatchObject({ code: 'sns_certificate_untrusted', status: 403 });
    for (let i = 0; i < 5; i++)
      expect(await s.get(url(1), REGION_HOST).catch((e) => e)).toMatchObject({ code: 'sns_certificate_untrusted' });
    expect(calls).toHaveLength(1);
    advance(CERT_REFUSED_MS + 1);
    await s.get(url(1), REGION_HOST).catch(() => undefined);
    expect(calls).toHaveLength(2);
  });

  it('answers 503 (SNS retries) when Amazon cannot be reached, remembered 10 s only', async () => {
    let down = true;
    const { s, calls, advance } = store(async () => {
      if (down) throw new TypeError('fetch failed');
      return new Response(signer.certPem);
    });
    const e = await s.get(url(1), REGION_HOST).catch((err) => err);
    expect(e).toMatchObject({ code: 'unavailable', status: 503 });
    expect(await s.get(url(1), REGION_HOST).catch((err) => err)).toMatchObject({ code: 'unavailable' });
    expect(calls).toHaveLength(1);
    expect(CERT_UNREACHABLE_MS).toBeLessThan(20_000);
    down = false;
    advance(CERT_UNREACHABLE_MS + 1);
    expect(await s.get(url(1), REGION_HOST)).toBe(signer.certPem);
    expect(calls).toHaveLength(2);
  });

  it('answers 503 for an HTTP 5xx from Amazon, 403 for what is not a certificate', async () => {
    const five = store(async () => new Response('busy', { status: 503 }));
    expect(await five.s.get(url(1), REGION_HOST).catch((e) => e)).toMatchObject({ code: 'unavailable' });
    const junk = store(async () => new Response('<html>not a certificate</html>'));
    expect(await junk.s.get(url(1), REGION_HOST).catch((e) => e)).toMatchObject({ code: 'sns_certificate_untrusted' });
  });
});

/** Collects a logger's lines. */
function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, log: createLogger('info', stream) };
}

describe.each(backends)('SNS webhook hardening on %s', (backend) => {
  let t: TestContext;
  const fetched: string[] = [];
  let amazon: (url: string) => Response | Promise<Response>;
  const reset = () => {
    amazon = (url) =>
      url.endsWith('.pem') ? new Response(signer.certPem) : new Response('<ConfirmSubscriptionResponse/>');
  };
  beforeAll(async () => {
    t = await createTestContext(backend, { SNS_ALLOWED_TOPIC_ARNS: `${TOPIC_ARN},${CN_TOPIC}` });
    placeCert(t.config.sns.certCacheDir, signer);
    reset();
    t.services.sns.fetch = async (url) => {
      fetched.push(url);
      return amazon(url);
    };
  });
  afterAll(() => t.close());

  const post = (envelope: object) =>
    t.inject({
      method: 'POST',
      url: '/api/v1/email/webhook',
      token: null,
      headers: { 'content-type': 'text/plain; charset=UTF-8' },
      payload: JSON.stringify(envelope),
    });
  let n = 0;
  const bounceOf = () => bounce({ sesMessageId: `hard-${backend}-${++n}`, to: `hard${n}@example.com` }, 'Transient');
  const remembered = async (messageId: string) =>
    (await t.services.db.selectFrom('sns_messages').select('message_id').where('message_id', '=', messageId).execute())
      .length;

  describe('a refusal repeats at most 200 characters of what the client sent', () => {
    const huge = 'A'.repeat(250_000);
    const cases: Array<[string, () => object, number]> = [
      ['a TopicArn', () => signEnvelope(notification(bounceOf(), { topicArn: `arn:aws:sns:${huge}` }), signer), 403],
      [
        'a SigningCertURL',
        () => signEnvelope(notification(bounceOf(), { certUrl: `https://${REGION_HOST}/${huge}.pem` }), signer),
        403,
      ],
      [
        'a SignatureVersion',
        () => ({ ...signEnvelope(notification(bounceOf()), signer), SignatureVersion: huge }),
        403,
      ],
      [
        'a Timestamp (signed)',
        () => signEnvelope({ ...notification(bounceOf()), Timestamp: `1999-01-01T00:00:00Z${huge}` }, signer),
        403,
      ],
      ['a Type', () => ({ ...signEnvelope(notification(bounceOf()), signer), Type: huge }), 400],
      ['a URL that is none', () => ({ ...signEnvelope(notification(bounceOf()), signer), SigningCertURL: huge }), 403],
    ];

    it.each(cases)('%s of 250,000 characters: a short answer', async (_what, envelope, status) => {
      const res = await post(envelope());
      expect(res.statusCode).toBe(status);
      expect(res.body.length).toBeLessThan(1500);
    });

    it.each(cases.filter(([, , status]) => status === 403))(
      '%s of 250,000 characters: a short log line',
      async (_what, envelope) => {
        const { lines, log } = capture();
        const receiver = new SnsReceiver(t.services.db, t.services.events, t.config, log);
        receiver.fetch = async () => new Response(signer.certPem);
        const e = envelope() as { [k: string]: string };
        await expect(receiver.receive(JSON.stringify(e), '203.0.113.9')).rejects.toMatchObject({ status: 403 });
        expect(lines).toHaveLength(1);
        expect(lines[0]!.length).toBeLessThan(2000);
        expect(lines[0]).toContain('SNS message refused');
        expect(lines[0]).toContain('…');
      },
    );
  });

  describe('trusts a certificate only on the SNS host of the topic’s region, and fetches nothing else', () => {
    it.each([
      ['the S3 bucket named "sns"', `https://sns.s3.amazonaws.com/${CERT_FILE}`],
      ['the bucket "sns" by its regional S3 host', `https://sns.s3-us-west-2.amazonaws.com/${CERT_FILE}`],
      ['another region’s SNS host', `https://sns.us-east-1.amazonaws.com/${CERT_FILE}`],
      ['the China host for a topic outside China', `https://sns.eu-west-1.amazonaws.com.cn/${CERT_FILE}`],
    ])('refuses %s (403 sns_certificate_untrusted)', async (_what, certUrl) => {
      const before = fetched.length;
      const envelope = signEnvelope(notification(bounceOf(), { certUrl }), signer);
      const res = await post(envelope);
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe('sns_certificate_untrusted');
      expect(fetched.length).toBe(before);
      expect(await remembered(envelope.MessageId!)).toBe(0);
    });

    it('fetches a certificate not cached from the topic’s own host, once, and keeps it on disk (China too)', async () => {
      const certUrl = `https://${CN_HOST}/${certName('c1')}`;
      const envelope = signEnvelope(notification(bounceOf(), { topicArn: CN_TOPIC, certUrl }), signer);
      const res = await post(envelope);
      expect(res.statusCode).toBe(200);
      expect(res.json().result).toBe('processed');
      expect(fetched.filter((u) => u === certUrl)).toHaveLength(1);
      expect(readFileSync(path.join(t.config.sns.certCacheDir, CN_HOST, certName('c1')), 'utf8')).toBe(signer.certPem);
      await post(signEnvelope(notification(bounceOf(), { topicArn: CN_TOPIC, certUrl }), signer));
      expect(fetched.filter((u) => u === certUrl)).toHaveLength(1);
    });

    it('refuses a SubscribeURL on another region’s host, without fetching it', async () => {
      const before = fetched.length;
      const envelope = signEnvelope(
        subscriptionConfirmation({
          subscribeUrl: `https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${TOPIC_ARN}`,
        }),
        signer,
      );
      const res = await post(envelope);
      expect(res.statusCode).toBe(403);
      expect(fetched.length).toBe(before);
    });
  });

  describe('a certificate that cannot be fetched', () => {
    it('is a 503 unavailable when Amazon cannot be reached (SNS retries), not a 502', async () => {
      amazon = () => {
        throw new TypeError('fetch failed');
      };
      try {
        const res = await post(
          signEnvelope(notification(bounceOf(), { certUrl: `https://${REGION_HOST}/${certName('down')}` }), signer),
        );
        expect(res.statusCode).toBe(503);
        expect(res.json().error.code).toBe('unavailable');
      } finally {
        reset();
      }
    });

    it('is a 403 sns_certificate_untrusted when Amazon has no such certificate', async () => {
      amazon = () => new Response('<Error><Code>NoSuchKey</Code></Error>', { status: 404 });
      try {
        const res = await post(
          signEnvelope(notification(bounceOf(), { certUrl: `https://${REGION_HOST}/${certName('gone')}` }), signer),
        );
        expect(res.statusCode).toBe(403);
        expect(res.json().error.code).toBe('sns_certificate_untrusted');
      } finally {
        reset();
      }
    });
  });

  describe('a SubscriptionConfirmation', () => {
    it('fetches its SubscribeURL once: a replay of it fetches nothing', async () => {
      const envelope = signEnvelope(subscriptionConfirmation(), signer);
      const first = await post(envelope);
      expect(first.json()).toEqual({ result: 'confirmed', message_id: envelope.MessageId });
      const confirmations = () => fetched.filter((u) => u === envelope.SubscribeURL).length;
      expect(confirmations()).toBe(1);
      for (let i = 0; i < 3; i++) {
        const replay = await post(envelope);
        expect(replay.statusCode).toBe(200);
        expect(replay.json()).toEqual({ result: 'duplicate', message_id: envelope.MessageId });
      }
      expect(confirmations()).toBe(1);
    });

    it('whose SubscribeURL failed is not remembered: SNS’s retry confirms', async () => {
      const envelope = signEnvelope(subscriptionConfirmation(), signer);
      amazon = (url) => (url.endsWith('.pem') ? new Response(signer.certPem) : new Response('', { status: 500 }));
      try {
        const failed = await post(envelope);
        expect(failed.statusCode).toBe(502);
        expect(await remembered(envelope.MessageId!)).toBe(0);
      } finally {
        reset();
      }
      expect((await post(envelope)).json().result).toBe('confirmed');
      expect(await remembered(envelope.MessageId!)).toBe(1);
    });
  });
});
