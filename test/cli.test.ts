import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import SQLite from '../src/platform/db/better-sqlite3.js';
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
    expect(postier('keys', 'revoke', id)).toContain(`Revoked ${id} (billing) at `);
  });

  it('lists, prints, retries and drops spooled SMTP submissions', () => {
    postier('migrate');
    const raw = 'From: billing@rgz.bj\r\nTo: a@example.org\r\nSubject: stuck\r\n\r\nHello\r\n';
    const db = new SQLite(path.join(dir, 'db.sqlite'));
    const { lastInsertRowid: id } = db
      .prepare(
        `insert into submission_spool (received_at, envelope_from, recipients, message_ids, smtp_message_id, from_email, send_at, raw, attempts, lease_expires_at, last_error)
         values (?, 'billing@rgz.bj', '["a@example.org"]', '["00000000-0000-7000-8000-00000000000a"]', '<stuck@erp.rgz.bj>', 'billing@rgz.bj', ?, ?, 3, ?, 'disk I/O error')`,
      )
      .run(Date.now() - 60_000, Date.now(), Buffer.from(raw), Date.now() + 600_000);
    const listed = postier('spool', 'list', '--failing');
    expect(listed).toMatch(/failing/);
    expect(listed).toContain('disk I/O error');
    expect(postier('spool', 'raw', String(id))).toBe(raw);
    expect(postier('spool', 'retry', String(id))).toContain('tried at the next pass');
    expect(db.prepare('select lease_expires_at from submission_spool where id = ?').get(id)).toEqual({
      lease_expires_at: null,
    });
    expect(postier('spool', 'drop', String(id))).toContain('1 message(s) will never be stored or sent');
    expect(db.prepare('select count(*) as n from submission_spool').get()).toEqual({ n: 0 });
    expect(postier('spool', 'list')).toContain('The spool is empty.');
    expect(() => postier('spool', 'drop', String(id))).toThrow(new RegExp(`No spooled message ${id}`));
    expect(() => postier('spool', 'raw', 'abc')).toThrow(/"abc" is not a spooled message id/);
    expect(() => postier('spool', 'drop', '0x10')).toThrow(/"0x10" is not a spooled message id/);
    db.close();
  });

  it('refuses a bad scope and bad configuration with a clear message and a non-zero exit', () => {
    expect(() => postier('keys', 'create', '--scope', 'root', '--name', 'x')).toThrow(/--scope must be admin or send/);
    expect(() => postier('keys', 'create', '--scope', 'send', '--name', ' ')).toThrow(/--name must be 1 to 100/);
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

    // A typo in DATABASE_URL: no empty database made and answered from (no keys, a key the server never sees).
    const typo = path.join(dir, 'typo', 'db.sqlite');
    for (const args of [
      ['keys', 'list'],
      ['keys', 'create', '--scope', 'send', '--name', 'x'],
      ['spool', 'list'],
    ]) {
      let failed: { status: number; stderr: string } | null = null;
      try {
        execFileSync(process.execPath, [builtMain(), ...args], {
          env: { ...env, DATABASE_URL: `sqlite:${typo}` },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      } catch (e) {
        failed = e as { status: number; stderr: string };
      }
      expect(failed?.status, args.join(' ')).toBe(2);
      expect(failed?.stderr).toContain(`no Postier database at ${typo}`);
      expect(existsSync(typo)).toBe(false);
    }
  });
});
