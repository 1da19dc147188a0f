import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoadResult {
  /** Requests answered 2xx. */
  ok: number;
  'p50 ms': number;
  'p99 ms': number;
  'max ms': number;
  /** Non-2xx answers, socket errors and timeouts. */
  errors: number;
}

/** wrk prints durations as `812.00us`, `47.90ms` or `1.02s`. */
export function wrkMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim());
  if (!m) throw new Error(`wrk duration not understood: ${value}`);
  const n = Number(m[1]);
  const ms = m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
  return Math.round(ms * 10) / 10;
}

/** Reads wrk's report (run with --latency). */
export function parseWrk(out: string): LoadResult {
  const field = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk output lacks ${re}:\n${out}`);
    return m;
  };
  const total = Number(field(/(\d+) requests in /)[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((s, v) => s + Number(v), 0) : 0;
  return {
    ok: total - non2xx,
    'p50 ms': wrkMs(field(/^\s+50%\s+(\S+)/m)[1]!),
    'p99 ms': wrkMs(field(/^\s+99%\s+(\S+)/m)[1]!),
    'max ms': wrkMs(field(/^\s+Latency\s+\S+\s+\S+\s+(\S+)/m)[1]!),
    errors: non2xx + socketErrors,
  };
}

/**
 * POSTs `body` to `url` from `connections` connections for `seconds` (closed loop) with wrk, the
 * C load generator BENCH-NOTES.md names: it leaves nearly all of the two cores to the server,
 * where autocannon (Node) took about a fifth of them and its own event loop's delays showed in
 * the latencies it measured.
 */
export async function postWithWrk(opts: {
  url: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  seconds: number;
}): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-wrk-'));
  try {
    const script = path.join(dir, 'post.lua');
    // A Lua long string holds the body byte for byte (Lua's quoted strings lack JSON's \\u escapes).
    let eq = '';
    while (opts.body.includes(`]${eq}]`)) eq += '=';
    const lua = [
      'wrk.method = "POST"',
      ...Object.entries(opts.headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
      `wrk.body = [${eq}[${opts.body}]${eq}]`,
    ].join('\n');
    writeFileSync(script, lua);
    const { stdout } = await run(
      'wrk',
      ['-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', '-s', script, opts.url],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    return parseWrk(stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
