import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import type { TestContext } from './context.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves with the worker's lease owner id once it has started. */
  ready: Promise<string>;
  exited: Promise<number | null>;
  output(): string;
}

/** DATABASE_URL that reaches this context's database from another process. */
export function databaseUrlOf(t: TestContext): string {
  if (!t.schema) return t.config.databaseUrl;
  return `${t.config.databaseUrl}${t.config.databaseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${t.schema}`)}`;
}

/**
 * `postier worker` (or `postier serve`, whose worker runs on its own thread) as a real child
 * process, the way production runs it.
 */
export function spawnWorker(t: TestContext, env: Record<string, string>, command: 'worker' | 'serve' = 'worker'): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', command], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: databaseUrlOf(t),
      DATA_DIR: t.dir,
      LOG_LEVEL: 'info',
      SMTP_FROM_EMAIL: 'noreply@rgz.bj',
      SMTP_FROM_NAME: 'RGZ Notifications',
      WORKER_POLL_MS: '20',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let resolveReady!: (owner: string) => void;
  const ready = new Promise<string>((r) => (resolveReady = r));
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    const m = /"owner":"([^"]+)"[^\n]*"msg":"delivery worker started"/.exec(out);
    if (m) resolveReady(m[1]!);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(() => resolveReady(''));
  return { child, ready, exited, output: () => out };
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Polls `check` every 100 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}
