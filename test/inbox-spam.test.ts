import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, serve } from '../src/app/serve.js';
import { parseSpamdReply } from '../src/checks/spamd.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { messageRow, sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { SmtpTalk } from './helpers/smtp-talk.js';
import { mime, sendKey, startSubmissionFor } from './helpers/submission.js';
import { hasSpamd, type Spamd, startSpamd } from './support/spamd.js';

/** SpamAssassin's test string: a mail holding it scores as spam, always (rule GTUBE). */
const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

describe('reading a spamd reply', () => {
  it('takes the verdict, score, threshold and the rule table, and refuses anything else', () => {
    const reply =
      'SPAMD/1.1 0 EX_OK\r\nContent-length: 300\r\nSpam: False ; 1.1 / 5.0\r\n\r\n' +
      'Content analysis details:   (1.1 points, 5.0 required)\n\n pts rule name              description\n' +
      '---- ---------------------- --------------------------------------------------\n' +
      '-0.0 NO_RECEIVED            Informational: message has no Received headers\n' +
      ' 0.8 DKIM_ADSP_NXDOMAIN     No valid author signature and domain not in DNS\n';
    expect(parseSpamdReply(reply)).toEqual({
      score: 1.1,
      threshold: 5,
      is_spam: false,
      rules: [
        { score: -0, name: 'NO_RECEIVED', description: 'Informational: message has no Received headers' },
        { score: 0.8, name: 'DKIM_ADSP_NXDOMAIN', description: 'No valid author signature and domain not in DNS' },
      ],
    });
    expect(() => parseSpamdReply('HTTP/1.1 200 OK\r\n\r\n')).toThrow(/SPAMD protocol/);
    expect(() => parseSpamdReply('SPAMD/1.0 76 Bad header line\r\n\r\n')).toThrow(/76/);
  });
});

/**
 * The spam checks against a real spamd (Debian's spamassassin, as CI installs it) started on a
 * loopback port: a captured mail, and archived messages (rendered, with masked values, submitted
 * over SMTP). GTUBE, SpamAssassin's test string, shows what reached spamd: it always scores as spam.
 */
describe.skipIf(!hasSpamd())('spam score of captured and archived mail with a real spamd', () => {
  let t: TestContext;
  let running: Running;
  let spamd: Spamd;

  beforeAll(async () => {
    spamd = await startSpamd();
    t = await createTestContext('sqlite', {
      CAPTURE_SMTP_PORT: '0',
      WORKER_POLL_MS: '20',
      SPAMD_ADDRESS: spamd.address,
      SUBMISSION_PORT: '0',
      SUBMISSION_TLS_PORT: '0',
    });
    running = await serve(t.services, { api: false, worker: true, retention: false });
  }, 90_000);
  afterAll(async () => {
    await running?.stop();
    await t?.close();
    spamd?.stop();
  });

  const spamCheck = async (id: string) => t.inject({ method: 'GET', url: `/api/v1/email/messages/${id}/spam-check` });
  const ruleNames = (r: { rules: Array<{ name: string }> }) => r.rules.map((x) => x.name);

  it('scores a captured mail: a number against the threshold, and the rules that fired', async () => {
    const [id] = await sendOk(t, { ...incidentExample(), to: 'spam-check@example.com' });
    await waitForStatus(t, [id!], ['captured']);
    const item = (await t.inject({ method: 'GET', url: '/api/v1/dev/inbox?q=spam-check' })).json().items[0];
    const res = await t.inject({ method: 'GET', url: `/api/v1/dev/inbox/${item.id}/spam` });
    expect(res.statusCode).toBe(200);
    const spam = res.json();
    expect(spam).toMatchObject({ available: true, is_spam: expect.any(Boolean) });
    expect(spam.threshold).toBeGreaterThan(0);
    expect(Number.isFinite(spam.score)).toBe(true);
    expect(spam.rules.length).toBeGreaterThan(0);
    for (const r of spam.rules) expect(r.name).toMatch(/^[A-Z0-9_]+$/);
  }, 90_000);

  it('scores an archived message as delivery builds it: its content reaches spamd', async () => {
    const [plain] = await sendOk(t, { ...incidentExample(), to: 'archived-ham@example.com' });
    const ham = await spamCheck(plain!);
    expect(ham.statusCode).toBe(200);
    expect(ham.json()).toMatchObject({ is_spam: false, threshold: expect.any(Number) });
    expect(ruleNames(ham.json())).not.toContain('GTUBE');

    const [gtube] = await sendOk(t, {
      to: 'archived-spam@example.com',
      subject: 'Test',
      html: `<p>${GTUBE}</p>`,
      text: GTUBE,
    });
    const spam = (await spamCheck(gtube!)).json();
    expect(spam.is_spam).toBe(true);
    expect(ruleNames(spam)).toContain('GTUBE');
  }, 90_000);

  it("scores the archive's masked content, never the sealed clear one", async () => {
    // Scheduled: the message keeps its sealed clear content (the worker has not sent it yet).
    const [id] = await sendOk(t, {
      to: 'masked-spam@example.com',
      template_key: 'instance_provisioned',
      send_at: new Date(Date.now() + 86_400_000).toISOString(),
      variables: {
        customer_name: 'Aminata',
        instance_name: 'erp',
        protocol: 'https',
        domain: 'erp.cloud.rgz.bj',
        login: 'admin@techconnect.bj',
        password: GTUBE,
        plan: 'Business',
      },
    });
    const row = await messageRow(t, id!);
    expect(row.sealed_content).not.toBeNull();
    expect(t.services.seal.openSealedContent(row)!.text).toContain(GTUBE);
    const res = await spamCheck(id!);
    expect(res.statusCode).toBe(200);
    expect(ruleNames(res.json())).not.toContain('GTUBE');
    expect(res.body).not.toContain('GTUBE-STANDARD');
  }, 90_000);

  it('scores mail submitted over SMTP as its own stored MIME', async () => {
    const server = await startSubmissionFor(t, { loginDelayStepMs: 1 });
    try {
      const { token } = await sendKey(t, 'spam check');
      const talk = await SmtpTalk.connect(server.port);
      await talk.command('EHLO erp.rgz.bj');
      await talk.starttls();
      await talk.command('EHLO erp.rgz.bj');
      expect(await talk.login(token)).toMatch(/^235/);
      const messageId = '<gtube-submitted@erp.rgz.bj>';
      const reply = await talk.send(
        'billing@rgz.bj',
        ['submitted-spam@example.org'],
        mime({ To: 'submitted-spam@example.org', 'Message-ID': messageId }, `${GTUBE}\r\n`),
      );
      expect(reply).toMatch(/^250/);
      talk.close();
      await server.ingested();
      const row = await t.services.db
        .selectFrom('email_messages')
        .select(['id', 'raw_sha256'])
        .where('smtp_message_id', '=', messageId)
        .executeTakeFirstOrThrow();
      expect(row.raw_sha256).not.toBeNull();
      const spam = (await spamCheck(row.id)).json();
      expect(spam.is_spam).toBe(true);
      expect(ruleNames(spam)).toContain('GTUBE');
    } finally {
      await server.close();
    }
  }, 90_000);
});

describe('spam check without spamd', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext('sqlite');
  });
  afterAll(() => t.close());

  it('says it is not available when SPAMD_ADDRESS is unset, and 404 for an unknown mail', async () => {
    const raw = Buffer.from('From: a@example.com\r\nTo: b@example.com\r\nSubject: x\r\n\r\nHello\r\n');
    const { storeCapturedMail } = await import('../src/capture/store.js');
    const id = await storeCapturedMail(t.services.db, raw, { from: 'a@example.com', to: ['b@example.com'] });
    const res = await t.inject({ method: 'GET', url: `/api/v1/dev/inbox/${id}/spam` });
    expect(res.json()).toEqual({ available: false, reason: 'SPAMD_ADDRESS is not set' });
    const missing = await t.inject({
      method: 'GET',
      url: '/api/v1/dev/inbox/01900000-0000-7000-8000-000000000000/spam',
    });
    expect(missing.statusCode).toBe(404);
  });
});
