import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BENCH_TOKEN = 'bench-admin-token-0123456789abcdef';

export interface BenchServer {
  url: string;
  pid: number;
  dir: string;
  child: ChildProcess;
  /** Resident set now and at its peak (VmRSS, VmHWM), in bytes. */
  memory(): { rss: number; peak: number };
  /** SIGTERM, wait for exit; the data folder is removed unless `keep`. */
  stop(keep?: boolean): Promise<void>;
}

let built = process.env.BENCH_SKIP_BUILD === '1';

/** The production build (`tsc -p tsconfig.build.json` → dist/), compiled once per bench run so it is never stale. */
function build(): string {
  if (!built) {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
    built = true;
  }
  return path.join(root, 'dist/src/main.js');
}

/**
 * Starts `postier serve` from the production build as its own process (so the load generator does not share its event
 * loop), on a fresh SQLite file unless DATABASE_URL is given, and waits for /healthz.
 */
export async function startServer(opts: { port: number; env?: Record<string, string>; args?: string[]; dir?: string }): Promise<BenchServer> {
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'postier-bench-'));
  const env = {
    ...process.env,
    PORT: String(opts.port),
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    DATABASE_URL: `sqlite:${path.join(dir, 'postier.db')}`,
    POSTIER_ADMIN_TOKEN: BENCH_TOKEN,
    LOG_LEVEL: 'warn',
    ...opts.env,
  };
  const child = spawn(process.execPath, [...(process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_PROF] : []), build(), 'serve', ...(opts.args ?? [])], {
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${opts.port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('server did not start in 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    pid: child.pid!,
    dir,
    child,
    memory() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
      return { rss: kb('VmRSS'), peak: kb('VmHWM') };
    },
    async stop(keep = false) {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}
