import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Running, serve } from '../src/app/serve.js';
import { parseSpamdReply } from '../src/checks/spamd.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { sendOk, waitForStatus } from './helpers/delivery.js';
import { incidentExample } from './helpers/fixtures.js';
import { freePort } from './support/ports.js';

const SPAMD = '/usr/sbin/spamd';

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
 * The spam check of a captured mail against a real spamd (Debian's spamassassin, as CI installs
 * it) started on a loopback port; without SPAMD_ADDRESS the check says it is not available.
 */
describe.skipIf(!existsSync(SPAMD))('spam score of captured mail with a real spamd', () => {
  let t: TestContext;
  let running: Running;
  let spamd: ChildProcess;
  let dir: string;

  beforeAll(async () => {
    const port = await freePort();
    dir = mkdtempSync(path.join(tmpdir(), 'postier-spamd-'));
    spamd = spawn(
      SPAMD,
      [
        `--listen=127.0.0.1:${port}`,
        '--max-children=1',
        '--min-children=1',
        '-x',
        '--syslog=stderr',
        '-u',
        'nobody',
        `--pidfile=${dir}/pid`,
      ],
      { stdio: 'ignore' },
    );
    for (let i = 0; ; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.end();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (up) break;
      if (i > 240) throw new Error('spamd did not start');
      await new Promise((r) => setTimeout(r, 250));
    }
    t = await createTestContext('sqlite', {
      CAPTURE_SMTP_PORT: '0',
      WORKER_POLL_MS: '20',
      SPAMD_ADDRESS: `127.0.0.1:${port}`,
    });
    running = await serve(t.services, { api: false, worker: true, retention: false });
  }, 90_000);
  afterAll(async () => {
    await running?.stop();
    await t?.close();
    spamd?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

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
