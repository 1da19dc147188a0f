import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtMain } from './support/processes.js';

const dir = mkdtempSync(path.join(tmpdir(), 'postier-cli-'));
const env = {
  ...process.env,
  DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`,
  DATA_DIR: dir,
  LOG_LEVEL: 'silent',
};
const postier = (...args: string[]) =>
  execFileSync(process.execPath, [builtMain(), ...args], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

// Each case starts the CLI (the build) several times: a second or more each on a busy 2-core machine.
describe('postier CLI', { timeout: 120_000 }, () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates, creates a key (printing its token once), lists and revokes it', () => {
    expect(postier('migrate')).toContain('up to date');
    const created = postier('keys', 'create', '--scope', 'send', '--name', 'billing');
    const token = /pst_[A-Za-z0-9_-]+/.exec(created)?.[0];
    expect(token).toBeDefined();
    const listed = postier('keys', 'list');
    expect(listed).toContain('billing');
    expect(listed).not.toContain(token);
    const id = /key ([0-9a-f-]{36})/.exec(created)![1]!;
    expect(postier('keys', 'revoke', id)).toContain('Revoked');
  });

  it('refuses a bad scope and bad configuration with a clear message and a non-zero exit', () => {
    expect(() => postier('keys', 'create', '--scope', 'root', '--name', 'x')).toThrow(/--scope must be admin or send/);
    let stderr = '';
    try {
      execFileSync(process.execPath, [builtMain(), 'migrate'], {
        env: { ...env, PORT: 'x', SMTP_USE_TLS: 'maybe' },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      stderr = String((e as { stderr: string }).stderr);
    }
    expect(stderr).toContain('PORT');
    expect(stderr).toContain('SMTP_USE_TLS');
  });
});
