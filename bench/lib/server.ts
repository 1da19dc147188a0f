import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ServeProcess, startServe } from '../../test/support/processes.js';

export const BENCH_TOKEN = 'bench-admin-token-0123456789abcdef';

export interface BenchServer extends ServeProcess {
  dir: string;
  /** SIGTERM, wait for exit; the data folder is removed unless `keep`. */
  close(keep?: boolean): Promise<void>;
}

/**
 * `postier serve` from the production build as its own process (so the load generator does not
 * share its event loop), on a fresh SQLite file in `dir` unless DATABASE_URL is given, answering
 * /healthz. BENCH_PROF=<dir> writes its V8 CPU profile there.
 */
export async function startServer(
  opts: { env?: Record<string, string>; args?: string[]; dir?: string } = {},
): Promise<BenchServer> {
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'postier-bench-'));
  const server = await startServe({
    nodeArgs: process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [],
    args: opts.args,
    output: 'inherit',
    env: {
      ...process.env,
      PORT: undefined,
      HOST: '127.0.0.1',
      DATA_DIR: dir,
      DATABASE_URL: `sqlite:${path.join(dir, 'postier.db')}`,
      POSTIER_ADMIN_TOKEN: BENCH_TOKEN,
      LOG_LEVEL: 'warn',
      ...opts.env,
    },
  });
  return {
    ...server,
    dir,
    async close(keep = false) {
      await server.stop();
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}
