import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCertificate } from '../src/accept/submission/self-signed.js';
import { startInboundListener, type InboundListener } from '../src/feedback/index.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { sendReport } from './helpers/reports.js';

const DOMAIN = 'bounces.rgz.bj';

/** Reads SMTP replies from a raw socket, one whole reply at a time. */
function replies(socket: net.Socket) {
  let buffer = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    buffer += d.toString('latin1');
    for (const w of waiters.splice(0)) w();
  });
  return async (): Promise<string> => {
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(buffer);
      if (m) {
        buffer = buffer.slice(m[0].length);
        return m[0].trimEnd();
      }
      await new Promise<void>((r) => waiters.push(r));
    }
  };
}

/** The listener holds no more of a message than INBOUND_SMTP_MAX_MB, whatever a client sends. */
describe('inbound listener: message size', () => {
  let t: TestContext;
  let listener: InboundListener;
  beforeAll(async () => {
    t = await createTestContext('sqlite', { BOUNCE_DOMAIN: DOMAIN, INBOUND_SMTP_MAX_MB: '1' });
    listener = await startInboundListener({
      db: t.services.db,
      config: t.config,
      log: t.services.log,
      port: 0,
      host: '127.0.0.1',
    });
  });
  afterAll(async () => {
    await listener?.close();
    await t?.close();
  });

  it('reads a 300 MB message past the limit without keeping it, answers 552 and keeps listening', async () => {
    const socket = net.connect({ port: listener.port, host: '127.0.0.1' });
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const reply = replies(socket);
    const say = async (line: string) => {
      socket.write(`${line}\r\n`);
      return reply();
    };
    expect(await reply()).toMatch(/^220 /);
    expect(await say('EHLO sender.example')).toMatch(/^250/);
    // No SIZE= on MAIL FROM: the client does not say how much it will send.
    expect(await say('MAIL FROM:<>')).toMatch(/^250/);
    expect(await say(`RCPT TO:<postmaster@${DOMAIN}>`)).toMatch(/^250/);
    expect(await say('DATA')).toMatch(/^354/);

    // Memory held by Buffers (arrayBuffers: outside the JS heap) while the message streams in,
    // measured after a collection every 16 MB: what is kept, not the garbage of the socket's
    // reads, which a collector may leave for a while (Node 24's left 110-130 MB of it).
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    gc();
    const base = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const sample = () => {
      gc();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    };
    const line = Buffer.from(`${'x'.repeat(998)}\r\n`);
    const chunk = Buffer.concat(Array.from({ length: 1024 }, () => line)); // 1 MB
    socket.write('Subject: big\r\n\r\n');
    for (let i = 0; i < 300; i++) {
      if (!socket.write(chunk)) await new Promise<void>((r) => socket.once('drain', () => r()));
      if (i % 16 === 15) sample();
    }
    sample();
    const answer = await say('.');
    expect(answer).toMatch(/^552 5\.3\.4 /);
    // 300 MB went through; what stayed was the limit (1 MB), socket buffers and the test's own
    // chunks: 24-36 MB after a collection on Node 20 and 24 (all 300 MB before).
    expect(peak).toBeLessThan(64 * 1024 * 1024);
    socket.end();

    const ok = await sendReport(listener.port, { from: '', to: [`postmaster@${DOMAIN}`] }, 'Subject: x\r\n\r\nhi\r\n');
    expect(ok.response).toMatch(/^250 /);
  }, 120_000);
});

describe('the inbound listener’s own certificate (INBOUND_SMTP_TLS_KEY_FILE, INBOUND_SMTP_TLS_CERT_FILE)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-inbound-tls-'));
  const pair = selfSignedCertificate(['mx.rgz.bj']);
  const files = { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') };
  writeFileSync(files.cert, pair.cert);
  writeFileSync(files.key, pair.key);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const start = async (env: Record<string, string>) => {
    const t = await createTestContext('sqlite', { BOUNCE_DOMAIN: DOMAIN, ...env });
    try {
      return {
        t,
        listener: await startInboundListener({ db: t.services.db, config: t.config, log: t.services.log, port: 0 }),
      };
    } catch (e) {
      await t.close();
      throw e;
    }
  };

  it('offers the configured certificate after STARTTLS', async () => {
    const { t, listener } = await start({
      INBOUND_SMTP_TLS_KEY_FILE: files.key,
      INBOUND_SMTP_TLS_CERT_FILE: files.cert,
    });
    try {
      const socket = net.connect(listener.port, '127.0.0.1');
      const read = replies(socket);
      expect(await read()).toMatch(/^220 /);
      socket.write('EHLO client.example\r\n');
      expect(await read()).toMatch(/STARTTLS/);
      socket.write('STARTTLS\r\n');
      expect(await read()).toMatch(/^220 /);
      const subject = await new Promise<string>((resolve, reject) => {
        const secure = tls.connect({ socket, servername: 'mx.rgz.bj', rejectUnauthorized: false }, () => {
          resolve(secure.getPeerX509Certificate()!.subject);
          secure.destroy();
        });
        secure.once('error', reject);
      });
      expect(subject).toBe('CN=mx.rgz.bj');
    } finally {
      await listener.close();
      await t.close();
    }
  });

  it('refuses to start on an empty certificate file, which TLS would serve as no certificate', async () => {
    const empty = path.join(dir, 'empty.pem');
    writeFileSync(empty, '');
    await expect(start({ INBOUND_SMTP_TLS_KEY_FILE: files.key, INBOUND_SMTP_TLS_CERT_FILE: empty })).rejects.toThrow();
    const other = selfSignedCertificate(['other.example']);
    writeFileSync(path.join(dir, 'other.pem'), other.cert);
    await expect(
      start({ INBOUND_SMTP_TLS_KEY_FILE: files.key, INBOUND_SMTP_TLS_CERT_FILE: path.join(dir, 'other.pem') }),
    ).rejects.toThrow(/is not the private key of/);
  });
});
