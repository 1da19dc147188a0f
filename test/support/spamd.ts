import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

export const SPAMD = '/usr/sbin/spamd';

/** Whether Debian's spamd is installed (package spamd; .ci/run installs spamassassin). */
export const hasSpamd = (): boolean => existsSync(SPAMD);

export interface Spamd {
  /** SPAMD_ADDRESS for Postier: 127.0.0.1:<port>. */
  address: string;
  stop(): void;
}

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

/**
 * A private spamd for one test file on a loopback port: one child, local tests only (-L: no DNS
 * blocklists, so a score does not depend on the network), running as nobody when started as root.
 * Its rule set takes a while to compile: this waits up to a minute for the port to answer.
 */
export async function startSpamd(): Promise<Spamd> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-spamd-'));
  const child: ChildProcess = spawn(
    SPAMD,
    [
      `--listen=127.0.0.1:${port}`,
      '--max-children=1',
      '--min-children=1',
      '-x',
      '-L',
      '--syslog=stderr',
      '-u',
      'nobody',
      `--pidfile=${dir}/pid`,
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; !(await answers(port)); i++) {
    if (i > 240 || child.exitCode !== null) {
      child.kill('SIGTERM');
      throw new Error('spamd did not start');
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    address: `127.0.0.1:${port}`,
    stop() {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
