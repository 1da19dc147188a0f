import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { newestMtime } from './mtime.js';

/**
 * `postier serve` and `postier worker` as child processes, the way production runs them: for
 * the tests, the chaos run and the benchmarks, from the production build (`dist/`, compiled
 * again when src/ is newer, so it is never stale).
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The worker's start-up line, with its lease owner id. */
const WORKER_STARTED = /"owner":"([^"]+)"[^\n]*"msg":"delivery worker started"/;

export interface SpawnOptions {
  /** The child's whole environment, over PATH and HOME only (so the caller's shell cannot leak in). */
  env: Record<string, string | undefined>;
  /** After the command: `--no-worker`, … */
  args?: string[];
  /** Names the process in errors. */
  name?: string;
  /** Node's own options (`--cpu-prof`, …). */
  nodeArgs?: string[];
  /** Where stdout and stderr go: kept in memory (the default), appended to a file, or the parent's own. */
  output?: 'memory' | 'inherit' | { file: string };
}

export interface PostierProcess {
  readonly child: ChildProcess;
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  alive(): boolean;
  /** What it has written so far ('' when its output goes to the parent's). */
  output(): string;
  /** The first match of `pattern` in its output, once there; null if it exits first. Rejects after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray | null>;
  /** The lease owner id of its delivery worker once started (`worker`, or `serve` with LOG_LEVEL info); '' if it exits first. */
  workerOwner(timeoutMs?: number): Promise<string>;
  /** Resident set now and at its peak (VmRSS, VmHWM), in bytes; NaN once it has exited (Linux). */
  memory(): { rss: number; peak: number };
  /** Sends `signal` (SIGTERM) and waits for the exit, SIGKILL after `graceMs`; the exit code. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

export interface ServeProcess extends PostierProcess {
  port: number;
  url: string;
}

const running = new Set<ChildProcess>();

/** SIGKILLs every Postier process this process started that is still running. */
export function killAll(): void {
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
// No child outlives its parent, whatever ends the parent (a failed assertion, a thrown error).
process.on('exit', killAll);

const MAIN = path.join(ROOT, 'dist/src/main.js');
let built = process.env.BENCH_SKIP_BUILD === '1';

const LOCK = path.join(ROOT, 'dist.building');

/** dist/ was compiled after the last change to src/ and the compiler's settings, and no compile is under way. */
const buildIsFresh = () =>
  !existsSync(LOCK) &&
  existsSync(MAIN) &&
  statSync(MAIN).mtimeMs >=
    Math.max(
      newestMtime(path.join(ROOT, 'src')),
      ...['tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(path.join(ROOT, f)).mtimeMs),
    );

/** The process that holds the compile lock is gone (killed mid-compile): the lock is stale. */
function lockIsStale(): boolean {
  const pid = Number(readFileSync(path.join(LOCK, 'pid'), 'utf8').trim() || NaN);
  if (!Number.isInteger(pid)) return false; // just made: its pid comes next
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * The production build's entry point (`dist/src/main.js`), compiled first when src/ is newer
 * (`npm install` builds it; BENCH_SKIP_BUILD=1 takes dist/ as it is). Test workers starting
 * together compile it once: the first takes a lock directory (with its pid), the others wait
 * until it is gone. A type error fails the compile and leaves dist/ as it was (--noEmitOnError).
 */
export function builtMain(): string {
  if (built) return MAIN;
  let waited = false;
  while (!buildIsFresh()) {
    try {
      mkdirSync(LOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let stale = false;
      try {
        stale = lockIsStale();
      } catch {
        // the lock went (or its pid file is not there yet): look again
      }
      if (stale) {
        // Renamed first: of two processes that found it stale, one removes it, not the other's new lock.
        const aside = `${LOCK}.${process.pid}`;
        try {
          renameSync(LOCK, aside);
          rmSync(aside, { recursive: true, force: true });
        } catch {
          // another process took it away first
        }
      }
      if (!waited) process.stderr.write(`waiting for another process to compile dist/ (${LOCK})\n`);
      waited = true;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      continue;
    }
    try {
      writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      execFileSync(
        process.execPath,
        [
          path.join(ROOT, 'node_modules/typescript/bin/tsc'),
          '-p',
          path.join(ROOT, 'tsconfig.build.json'),
          '--noEmitOnError',
        ],
        { stdio: 'inherit' },
      );
    } finally {
      rmSync(LOCK, { recursive: true, force: true });
    }
    break; // compiled here (a source dated in the future would otherwise compile it again and again)
  }
  built = true;
  return MAIN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `postier <command>`; it is not waited for (see startServe, workerOwner). */
export function spawnPostier(command: 'serve' | 'worker' | 'submission', opts: SpawnOptions): PostierProcess {
  const name = opts.name ?? `postier ${command}`;
  const main = [builtMain()];
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env };
  const output = opts.output ?? 'memory';
  const file = typeof output === 'object' ? output.file : null;
  const fd = file ? openSync(file, 'a') : null;
  const stdio = output === 'memory' ? 'pipe' : output === 'inherit' ? 'inherit' : fd!;
  const argv = [...(opts.nodeArgs ?? []), ...main, command, ...(opts.args ?? [])];
  const child = spawn(process.execPath, argv, { cwd: ROOT, env, stdio: ['ignore', stdio, stdio] });
  if (fd !== null) closeSync(fd);
  running.add(child);
  let out = '';
  const listeners = new Set<() => void>();
  if (output === 'memory') {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      for (const l of listeners) l();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => {
    running.delete(child);
    for (const l of listeners) l();
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const readOutput = () => (file ? readFileSync(file, 'utf8') : out);

  const waitForOutput = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<RegExpExecArray | null>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let poll: NodeJS.Timeout | undefined;
      const check = () => {
        const m = pattern.exec(readOutput());
        if (!m && alive()) return;
        listeners.delete(check);
        clearTimeout(timer);
        clearInterval(poll);
        resolve(m);
      };
      listeners.add(check);
      // A file is not watched: it is read again every 50 ms.
      if (file) poll = setInterval(check, 50);
      timer = setTimeout(() => {
        listeners.delete(check);
        clearInterval(poll);
        reject(new Error(`${name}: no ${pattern} in its output after ${timeoutMs} ms:\n${readOutput().slice(-2000)}`));
      }, timeoutMs);
      check();
    });

  return {
    child,
    name,
    pid: child.pid!,
    exited,
    alive,
    output: readOutput,
    waitForOutput,
    workerOwner: async (timeoutMs) => (await waitForOutput(WORKER_STARTED, timeoutMs))?.[1] ?? '',
    memory: () => memoryOf(child.pid!),
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 30_000) {
      if (alive()) {
        child.kill(signal);
        await Promise.race([exited, sleep(graceMs)]);
        if (alive()) child.kill('SIGKILL');
      }
      return exited;
    },
  };
}

/** Starts `postier serve` on a free port (unless PORT is given) and waits until /healthz answers. */
export async function startServe(opts: SpawnOptions & { readyTimeoutMs?: number }): Promise<ServeProcess> {
  const port = Number(opts.env.PORT ?? (await freePort()));
  const p = spawnPostier('serve', {
    ...opts,
    env: { HOST: '127.0.0.1', SUBMISSION_PORT: '0', ...opts.env, PORT: String(port) },
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })).ok) break;
    } catch {
      /* not up yet */
    }
    if (!p.alive())
      throw new Error(
        `${p.name} exited at start-up (${p.child.exitCode ?? p.child.signalCode}):\n${p.output().slice(-2000)}`,
      );
    if (Date.now() > deadline) {
      await p.stop('SIGKILL');
      throw new Error(
        `${p.name} did not answer /healthz in ${opts.readyTimeoutMs ?? 60_000} ms:\n${p.output().slice(-2000)}`,
      );
    }
    await sleep(100);
  }
  return { ...p, port, url };
}

/** VmRSS and VmHWM (peak) of a process, in bytes (NaN once it has exited). */
export function memoryOf(pid: number): { rss: number; peak: number } {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return { rss: Number.NaN, peak: Number.NaN };
  }
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}
