import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import SQLite from '../src/platform/db/better-sqlite3.js';
import { builtMain } from './support/processes.js';

const dir = mkdtempSync(path.join(tmpdir(), 'postier-cli-'));
const env = {
  ...process.env,
  DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`,
  DATA_DIR: dir,
  LOG_LEVEL: 'silent',
};

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** One run of the built CLI: its exit status (null when a signal ended it) and its output. */
const run = (args: string[], extraEnv: Record<string, string> = {}): Promise<Ran> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      [builtMain(), ...args],
      { env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 100_000 },
      (error, stdout, stderr) => {
        const code = (error as { code?: unknown } | null)?.code;
        resolve({ status: error ? (typeof code === 'number' ? code : null) : 0, stdout, stderr });
      },
    );
  });

/** Its standard output; rejects with its standard error when it exits non-zero. */
const postier = async (...args: string[]): Promise<string> => {
  const r = await run(args);
  if (r.status !== 0) throw new Error(`postier ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
};

// Each command starts the CLI (the build): a second or more on a busy 2-core machine. Commands that
// do not depend on each other's effects run side by side.
describe('postier CLI', { timeout: 120_000 }, () => {
  let migrated: string;
  beforeAll(async () => {
    migrated = await postier('migrate');
  }, 240_000); // the first CLI run may compile dist/
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('migrate makes the database', () => {
    expect(migrated).toContain('up to date');
    expect(existsSync(path.join(dir, 'db.sqlite'))).toBe(true);
  });

  it('creates a key (printing its token once), lists and revokes it', async () => {
    const created = await postier('keys', 'create', '--scope', 'send', '--name', 'billing');
    const token = /pst_[A-Za-z0-9_-]+/.exec(created)?.[0];
    expect(token).toBeDefined();
    const listed = await postier('keys', 'list');
    expect(listed).toContain('billing');
    expect(listed).not.toContain(token);
    const id = /key ([0-9a-f-]{36})/.exec(created)![1]!;
    expect(await postier('keys', 'revoke', id)).toContain(`Revoked ${id} (billing) at `);
  });

  it('lists, prints, retries and drops spooled SMTP submissions', async () => {
    const raw = 'From: billing@rgz.bj\r\nTo: a@example.org\r\nSubject: stuck\r\n\r\nHello\r\n';
    const db = new SQLite(path.join(dir, 'db.sqlite'));
    try {
      const { lastInsertRowid: id } = db
        .prepare(
          `insert into submission_spool (received_at, envelope_from, recipients, message_ids, smtp_message_id, from_email, send_at, raw, attempts, lease_expires_at, last_error)
         values (?, 'billing@rgz.bj', '["a@example.org"]', '["00000000-0000-7000-8000-00000000000a"]', '<stuck@erp.rgz.bj>', 'billing@rgz.bj', ?, ?, 3, ?, 'disk I/O error')`,
        )
        .run(Date.now() - 60_000, Date.now(), Buffer.from(raw), Date.now() + 600_000);
      const [listed, printed] = await Promise.all([
        postier('spool', 'list', '--failing'),
        postier('spool', 'raw', String(id)),
      ]);
      expect(listed).toMatch(/failing/);
      expect(listed).toContain('disk I/O error');
      expect(printed).toBe(raw);
      expect(await postier('spool', 'retry', String(id))).toContain('tried at the next pass');
      expect(db.prepare('select lease_expires_at from submission_spool where id = ?').get(id)).toEqual({
        lease_expires_at: null,
      });
      expect(await postier('spool', 'drop', String(id))).toContain('1 message(s) will never be stored or sent');
      expect(db.prepare('select count(*) as n from submission_spool').get()).toEqual({ n: 0 });
      const [empty, dropAgain, rawNotId, dropNotId] = await Promise.all([
        postier('spool', 'list'),
        postier('spool', 'drop', String(id)).catch((e: Error) => e),
        postier('spool', 'raw', 'abc').catch((e: Error) => e),
        postier('spool', 'drop', '0x10').catch((e: Error) => e),
      ]);
      expect(empty).toContain('The spool is empty.');
      expect(dropAgain).toBeInstanceOf(Error);
      expect(String(dropAgain)).toMatch(new RegExp(`No spooled message ${id}`));
      expect(rawNotId).toBeInstanceOf(Error);
      expect(String(rawNotId)).toMatch(/"abc" is not a spooled message id/);
      expect(dropNotId).toBeInstanceOf(Error);
      expect(String(dropNotId)).toMatch(/"0x10" is not a spooled message id/);
    } finally {
      db.close();
    }
  });

  it('refuses a bad scope and bad configuration with a clear message and a non-zero exit', async () => {
    // A typo in DATABASE_URL: no empty database made and answered from (no keys, a key the server never sees).
    const typo = path.join(dir, 'typo', 'db.sqlite');
    const typoCommands = [
      ['keys', 'list'],
      ['keys', 'create', '--scope', 'send', '--name', 'x'],
      ['spool', 'list'],
    ];
    const [badScope, badName, badConfig, ...typos] = await Promise.all([
      run(['keys', 'create', '--scope', 'root', '--name', 'x']),
      run(['keys', 'create', '--scope', 'send', '--name', ' ']),
      run(['migrate'], { PORT: 'x', SMTP_USE_TLS: 'maybe' }),
      ...typoCommands.map((args) => run(args, { DATABASE_URL: `sqlite:${typo}` })),
    ]);
    expect(badScope!.status).not.toBe(0);
    expect(badScope!.stderr).toMatch(/--scope must be admin or send/);
    expect(badName!.status).not.toBe(0);
    expect(badName!.stderr).toMatch(/--name must be 1 to 100/);
    expect(badConfig!.status).not.toBe(0);
    expect(badConfig!.stderr).toContain('PORT');
    expect(badConfig!.stderr).toContain('SMTP_USE_TLS');
    typoCommands.forEach((args, i) => {
      expect(typos[i]!.status, args.join(' ')).toBe(2);
      expect(typos[i]!.stderr).toContain(`no Postier database at ${typo}`);
    });
    expect(existsSync(typo)).toBe(false);
  });
});
