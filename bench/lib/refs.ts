/** Reference senders measured in the same run as Postier: Postfix's smtp-source→smtp-sink, and a Python seed-style sender. */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/support/ports.js';

const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tools = path.join(benchDir, '.tools');
const postfixRoot = path.join(tools, 'postfix');
export const sbin = path.join(postfixRoot, 'usr/sbin');
export const PYTHON = '/usr/bin/python3';

const debs = () => readdirSync(tools).filter((f) => /^postfix_.*\.deb$/.test(f));
const say = (m: string) => console.error(`bench: ${m}`);
let aptUpdated = false;
function aptGet(args: string[], cwd?: string) {
  const run = () => spawnSync('apt-get', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let r = run();
  if (r.status !== 0 && !aptUpdated) {
    say('apt-get update');
    spawnSync('apt-get', ['update'], { stdio: 'ignore' });
    aptUpdated = true;
    r = run();
  }
  if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed: ${r.stderr}`);
}

/** Postfix's smtp-sink/smtp-source, extracted from Debian's package into bench/.tools (the mail server is not installed). */
export function ensurePostfixTools() {
  if (existsSync(path.join(sbin, 'smtp-sink')) && existsSync(path.join(sbin, 'smtp-source'))) return;
  mkdirSync(tools, { recursive: true });
  say(
    'downloading Debian postfix package (apt-get download) and extracting smtp-sink/smtp-source into bench/.tools/postfix, not installing it',
  );
  if (debs().length === 0) aptGet(['download', 'postfix'], tools);
  const deb = debs()[0]!;
  execFileSync('dpkg', ['-x', path.join(tools, deb), postfixRoot]);
}

/** Debian's Python with Jinja2; installs python3-jinja2 with apt-get when missing. */
export function ensureJinja() {
  if (!existsSync(PYTHON)) {
    say('installing python3 (apt-get)');
    aptGet(['install', '-y', 'python3']);
  }
  if (spawnSync(PYTHON, ['-c', 'import jinja2']).status === 0) return;
  say('installing python3-jinja2 (apt-get)');
  aptGet(['install', '-y', 'python3-jinja2']);
}

/** wrk, the HTTP load generator in C (Debian's package); installed with apt-get when missing. */
export function ensureWrk() {
  if (spawnSync('wrk', ['-v']).error === undefined) return;
  say('installing wrk (apt-get)');
  aptGet(['install', '-y', 'wrk']);
}

/** Postfix's smtp-sink on 127.0.0.1:`port`, answering 250 to everything; stop it with kill(). */
export async function startSmtpSink(port: number) {
  const asRoot = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const sink = spawn(path.join(sbin, 'smtp-sink'), [...asRoot, '-m', '512', `127.0.0.1:${port}`, '1024'], {
    env: pfEnv(),
    stdio: 'ignore',
  });
  await new Promise((r) => setTimeout(r, 300));
  if (sink.exitCode !== null) throw new Error(`smtp-sink exited with ${sink.exitCode} (port ${port} taken?)`);
  return sink;
}

export const pfEnv = () => ({ ...process.env, LD_LIBRARY_PATH: path.join(postfixRoot, 'usr/lib/postfix') });

/** smtp-source with 8 sessions over reused connections to smtp-sink: the SMTP rate this machine's loopback allows. */
export async function smtpSourceToSink(messages: number, size: number): Promise<number> {
  const port = await freePort();
  const sink = await startSmtpSink(port);
  try {
    const t0 = performance.now();
    const r = spawnSync(
      path.join(sbin, 'smtp-source'),
      [
        '-s',
        '8',
        '-l',
        String(size),
        '-m',
        String(messages),
        '-d',
        '-f',
        'a@example.test',
        '-t',
        'b@example.test',
        `127.0.0.1:${port}`,
      ],
      { env: pfEnv(), encoding: 'utf8' },
    );
    const secs = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`smtp-source failed: ${r.stderr}`);
    return messages / secs;
  } finally {
    sink.kill('SIGTERM');
  }
}

/** Python smtplib + Jinja2, connect/send/quit per message, to the given sink port. Runs while the caller's event loop serves the sink. */
export async function seedStyle(
  n: number,
  port: number,
  content: { subject: string; html: string; text: string; vars: Record<string, string> },
): Promise<number> {
  // The same rendered content Postier sends, turned back into a Jinja2 template on the same variables.
  const toJinja = (s: string) =>
    Object.entries(content.vars).reduce((acc, [k, v]) => acc.split(v).join(`{{ ${k} }}`), s);
  const spec = path.join(tmpdir(), `postier-seed-${process.pid}.json`);
  writeFileSync(
    spec,
    JSON.stringify({
      port,
      n,
      subject: toJinja(content.subject),
      html: toJinja(content.html),
      text: toJinja(content.text),
      vars: content.vars,
    }),
  );
  const child = spawn(PYTHON, [path.join(benchDir, 'seed_style.py'), spec], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  const code = await new Promise((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`seed_style.py exited with ${code}`);
  return Number(out.trim());
}
