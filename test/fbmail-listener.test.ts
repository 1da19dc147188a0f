import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

    // Memory held by Buffers (arrayBuffers: outside the JS heap), sampled while the message streams in.
    const base = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const sample = () => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    };
    const timer = setInterval(sample, 5);
    const line = Buffer.from(`${'x'.repeat(998)}\r\n`);
    const chunk = Buffer.concat(Array.from({ length: 1024 }, () => line)); // 1 MB
    socket.write('Subject: big\r\n\r\n');
    for (let i = 0; i < 300; i++) {
      if (!socket.write(chunk)) await new Promise<void>((r) => socket.once('drain', () => r()));
      sample();
    }
    const answer = await say('.');
    sample();
    clearInterval(timer);
    expect(answer).toMatch(/^552 5\.3\.4 /);
    // 300 MB went through; the listener kept about the limit (1 MB), plus socket buffers and garbage not yet collected (about 35 MB here; all 300 MB before).
    expect(peak).toBeLessThan(100 * 1024 * 1024);
    socket.end();

    const ok = await sendReport(listener.port, { from: '', to: [`postmaster@${DOMAIN}`] }, 'Subject: x\r\n\r\nhi\r\n');
    expect(ok.response).toMatch(/^250 /);
  }, 120_000);
});
