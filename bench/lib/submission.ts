import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/support/ports.js';
import { pfEnv, sbin } from './refs.js';
import { BENCH_TOKEN, startServer } from './server.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * smtp-source cannot log in, and the listener relays nothing without a login: each connection
 * goes through this splice, which logs in upstream (AUTH PLAIN, the bench's admin token) before
 * greeting smtp-source, then copies bytes both ways without reading them. smtp-source's own EHLO
 * then reaches Postier, which keeps the login (EHLO resets the transaction, not the login).
 */
export async function loginSplice(upstreamPort: number): Promise<{ port: number; close(): void }> {
  const auth = Buffer.from(`\0bench\0${BENCH_TOKEN}`).toString('base64');
  const server = net.createServer((client) => {
    client.pause();
    const up = net.connect(upstreamPort, '127.0.0.1');
    up.setNoDelay(true);
    client.setNoDelay(true);
    let buffered = '';
    let step = 0;
    const fail = () => {
      client.destroy();
      up.destroy();
    };
    up.on('error', (e) => {
      console.error(`bench: the splice lost Postier: ${e.message}`);
      fail();
    });
    client.on('error', fail);
    const onData = (d: Buffer) => {
      buffered += d.toString('latin1');
      // Whole replies only: the last line of each has a space after its code.
      while (/^\d{3} [^\n]*\n/m.test(buffered)) {
        const end = buffered.search(/^\d{3} [^\n]*\n/m);
        const line = /^\d{3} [^\n]*\n/m.exec(buffered)!;
        const reply = buffered.slice(0, end + line[0].length);
        buffered = buffered.slice(end + line[0].length);
        if (step === 0) up.write('EHLO bench.splice\r\n');
        else if (step === 1) up.write(`AUTH PLAIN ${auth}\r\n`);
        else if (step === 2) {
          if (!reply.startsWith('235')) {
            console.error(`bench: the splice's login was refused: ${reply.trim()}`);
            return fail();
          }
          up.off('data', onData);
          client.write('220 bench splice ESMTP\r\n');
          client.pipe(up);
          up.pipe(client);
          client.resume();
        }
        step++;
      }
    };
    up.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

/**
 * Postfix's smtp-source: `messages` messages of `size` bytes over `sessions` sessions reusing
 * their connections, to 127.0.0.1:`port`. Spawned, not spawnSync: the splice runs in this event loop.
 */
function smtpSource(port: number, messages: number, opts: { sessions?: number; size?: number }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(
      path.join(sbin, 'smtp-source'),
      [
        '-s',
        String(opts.sessions ?? 8),
        '-l',
        String(opts.size ?? 2048),
        '-m',
        String(messages),
        '-d',
        '-f',
        'bench@example.test',
        '-t',
        'rcpt@example.test',
        `127.0.0.1:${port}`,
      ],
      { env: pfEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`smtp-source failed (${code}): ${stderr}`))));
  });
}

/**
 * The reference for the submission rows: smtp-server, the library the listener is built on, in
 * a process of its own with the listener's protocol options, accepting any login and answering
 * 250 to every message as soon as its bytes are in, storing nothing. Measured the same way
 * (the same splice, smtp-source, sessions and size, after the same warm-up), it is the most any
 * listener built on it can accept on this machine: what Postier's own work (checks, spooling,
 * the durable commit, storing the messages) leaves of it shows as the ratio of the two.
 */
export async function noopListenerAccepted(opts: {
  messages: number;
  sessions?: number;
  size?: number;
}): Promise<{ rate: number }> {
  const code = `
    import { SMTPServer } from 'smtp-server';
    const server = new SMTPServer({
      authMethods: ['PLAIN', 'LOGIN'], allowInsecureAuth: true, authOptional: true, hideSMTPUTF8: true,
      disableReverseLookup: true, logger: false, size: 26214400,
      onAuth(_auth, _session, callback) { callback(null, { user: 'bench' }); },
      onData(stream, _session, callback) {
        const chunks = [];
        stream.on('data', (c) => chunks.push(c));
        stream.on('end', () => { Buffer.concat(chunks); callback(null, '2.0.0 Ok: queued'); });
      },
    });
    server.listen(0, '127.0.0.1', () => console.log(server.server.address().port));
    process.on('SIGTERM', () => server.close(() => process.exit(0)));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c) => reject(new Error(`the reference smtp-server exited (${c})`)));
      child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    });
    const splice = await loginSplice(port);
    try {
      await smtpSource(splice.port, Math.min(2000, opts.messages), opts);
      const t0 = performance.now();
      await smtpSource(splice.port, opts.messages, opts);
      return { rate: opts.messages / ((performance.now() - t0) / 1000) };
    } finally {
      splice.close();
    }
  } finally {
    child.removeAllListeners('exit');
    child.kill('SIGTERM');
  }
}

/**
 * Messages accepted per second by the SMTP submission listener of `postier serve --no-worker`:
 * Postfix's smtp-source, `sessions` sessions reusing their connections, `size`-byte messages,
 * each `250` sent after the durable commit (SQLite: the WAL fsynced first); and the rate at which
 * they were stored as messages from the spool (from the first message to the last one stored).
 */
export async function submissionAccepted(opts: {
  messages: number;
  sessions?: number;
  size?: number;
  env?: Record<string, string>;
}): Promise<{ rate: number; archivedRate: number; accepted: number; loopP99Ms: number; loopMaxMs: number }> {
  const port = await freePort();
  const server = await startServer({
    env: {
      LOG_LEVEL: 'fatal',
      SMTP_HOST: '127.0.0.1',
      SUBMISSION_PORT: String(port),
      FROM_ALLOWED_DOMAINS: 'example.test',
      ...opts.env,
    },
    args: ['--no-worker'],
  });
  const splice = await loginSplice(port);
  const counters = async () => {
    const m = await (
      await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${BENCH_TOKEN}` } })
    ).text();
    return {
      accepted: Number(
        /^postier_submission_messages_total\{result="accepted",reason="stored"\} (\d+)/m.exec(m)?.[1] ?? 0,
      ),
      archived: Number(/^postier_submission_archived_total\{result="stored"\} (\d+)/m.exec(m)?.[1] ?? 0),
      // The listener's event loop: its delays since the previous scrape (prom-client resets them on each).
      loopP99Ms: Number(/^postier_nodejs_eventloop_lag_p99_seconds ([\d.e-]+)/m.exec(m)?.[1] ?? Number.NaN) * 1000,
      loopMaxMs: Number(/^postier_nodejs_eventloop_lag_max_seconds ([\d.e-]+)/m.exec(m)?.[1] ?? Number.NaN) * 1000,
    };
  };
  const archived = async () => (await counters()).archived;
  const source = (messages: number) => smtpSource(splice.port, messages, opts);
  try {
    const warm = Math.min(2000, opts.messages);
    await source(warm); // JIT, page cache
    // The warm-up's messages are stored from the spool before the measure starts.
    while ((await archived()) < warm) await new Promise((r) => setTimeout(r, 20));
    const before = await counters();
    const t0 = performance.now();
    await source(opts.messages);
    const secs = (performance.now() - t0) / 1000;
    // Right after the last 250: the loop's delays are those of the measured window alone.
    const after = await counters();
    const n = after.accepted - before.accepted;
    if (n !== opts.messages) throw new Error(`${opts.messages} messages sent, ${n} accepted`);
    // Accepted is not the end: each message is stored as its messages from the spool just after.
    const deadline = performance.now() + 120_000;
    while ((await archived()) - before.archived < n) {
      if (performance.now() > deadline) throw new Error(`${n} messages accepted, not all stored from the spool`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const archivedSecs = (performance.now() - t0) / 1000;
    return {
      rate: n / secs,
      archivedRate: n / archivedSecs,
      accepted: n,
      loopP99Ms: after.loopP99Ms,
      loopMaxMs: after.loopMaxMs,
    };
  } finally {
    splice.close();
    await server.close();
  }
}
