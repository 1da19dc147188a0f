import { execFile } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import SQLite from '../src/platform/db/better-sqlite3.js';
import { openDatabase } from '../src/platform/db/database.js';
import { createTestContext, type TestContext } from './helpers/context.js';
import { databaseUrlOf } from './helpers/child-env.js';
import { builtMain } from './support/processes.js';

/**
 * An operator's command (`postier keys …`, `templates …`) meeting a lock that another session
 * holds: it gives up after DB_LOCK_WAIT_SECONDS with one line and exit 2, having changed nothing,
 * on SQLite (its write lock) and on PostgreSQL (lock_timeout; it used to wait forever, silently).
 *
 * The database is migrated and seeded, and its key made, in this process (createTestContext runs
 * what `postier migrate` runs; test/cli.test.ts runs the commands themselves): a CLI process
 * starts in a second or more, so only the commands under test are spawned.
 */

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The built CLI; a command still running after two minutes is killed (status null), never waited for. */
function cli(env: Record<string, string>, ...args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [builtMain(), ...args],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, encoding: 'utf8', timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = (error as { code?: unknown } | null)?.code;
        resolve({ status: error ? (typeof code === 'number' ? code : null) : 0, stdout, stderr });
      },
    );
  });
}

/** One line, no stack trace. */
function expectOneLine(stderr: string): void {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
}

// The first CLI run may compile dist/: room for it.
describe('the CLI on SQLite, another connection holding the write lock', { timeout: 240_000 }, () => {
  let t: TestContext;
  let file: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await createTestContext('sqlite');
    file = t.config.databaseUrl.slice('sqlite:'.length);
    env = { DATABASE_URL: t.config.databaseUrl, DATA_DIR: t.dir, LOG_LEVEL: 'silent', DB_LOCK_WAIT_SECONDS: '1' };
  });
  afterAll(() => t?.close());

  it('keys revoke and keys create give up with one line naming the lock, exit 2, and change nothing', async () => {
    const { id } = (await t.services.apiKeys.create('billing', 'send', 'cli')).key;

    const holder = new SQLite(file);
    holder.exec('BEGIN IMMEDIATE');
    try {
      // Side by side: each waits out its own second on the lock.
      const commands = [
        ['keys', 'revoke', id],
        ['keys', 'create', '--scope', 'send', '--name', 'other'],
      ];
      const ran = await Promise.all(commands.map((args) => cli(env, ...args)));
      commands.forEach((args, i) => {
        const r = ran[i]!;
        expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        expectOneLine(r.stderr);
        expect(r.stderr).toContain('Gave up after 1 s (DB_LOCK_WAIT_SECONDS) waiting for a database lock');
        expect(r.stderr).toContain(`writing to ${file}`);
      });
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }

    const check = new SQLite(file, { readonly: true });
    expect(check.prepare('select id, revoked_at from api_keys').all()).toEqual([{ id, revoked_at: null }]);
    check.close();
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)(
  'the CLI on PostgreSQL, another session holding a lock',
  { timeout: 300_000 },
  () => {
    let t: TestContext;
    let schema: string;
    let env: Record<string, string>;
    let holder: pg.Client;
    let holderPid: number;
    beforeAll(async () => {
      t = await createTestContext('postgres');
      schema = t.schema!;
      env = { DATABASE_URL: databaseUrlOf(t), DATA_DIR: t.dir, LOG_LEVEL: 'silent', DB_LOCK_WAIT_SECONDS: '1' };
      holder = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL, application_name: 'clifix-holder' });
      await holder.connect();
      holderPid = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    });
    afterAll(async () => {
      await holder?.end();
      await t?.close();
    });

    const expectGaveUp = (r: Ran, table: string) => {
      expect(r.status, r.stderr).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).toContain('Gave up after 1 s (DB_LOCK_WAIT_SECONDS) waiting for a database lock');
      // The holder is named: its pid, application, state and the table it holds.
      expect(r.stderr).toContain(`PostgreSQL session ${holderPid} (clifix-holder, idle in transaction,`);
      expect(r.stderr).toContain(`holds ${table}`);
      expect(r.stderr).toContain(`pg_terminate_backend(${holderPid})`);
    };

    it('keys list and keys revoke give up on a locked api_keys, exit 2, and revoke nothing', async () => {
      const { id } = (await t.services.apiKeys.create('ops', 'admin', 'cli')).key;

      await holder.query('begin');
      await holder.query(`lock table ${schema}.api_keys in access exclusive mode`);
      try {
        // Side by side: each waits out its own second on the lock.
        const [list, revoke] = await Promise.all([cli(env, 'keys', 'list'), cli(env, 'keys', 'revoke', id)]);
        expectGaveUp(list!, 'api_keys');
        expectGaveUp(revoke!, 'api_keys');
      } finally {
        await holder.query('rollback');
      }
      const { rows } = await holder.query(`select id, revoked_at from ${schema}.api_keys`);
      expect(rows).toEqual([{ id, revoked_at: null }]);
      // Once the lock is gone, the same command works.
      const listed = await cli(env, 'keys', 'list');
      expect(listed.status, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(id);
    });

    it('a lock met while the command starts (reading the templates to seed) is reported the same way', async () => {
      await holder.query('begin');
      await holder.query(`lock table ${schema}.email_templates in access exclusive mode`);
      try {
        expectGaveUp(await cli(env, 'templates', 'export', t.dir), 'email_templates');
      } finally {
        await holder.query('rollback');
      }
    });

    it("sets lock_timeout only on the connections that ask for it: the server's wait as before", async () => {
      const t = await createTestContext('postgres', { DB_LOCK_WAIT_SECONDS: '1' });
      const cliLike = openDatabase(process.env.TEST_DATABASE_URL!, { poolSize: 1, lockTimeoutMs: 1500 });
      try {
        const setting = async (db: typeof t.services.db) =>
          (
            await db.selectNoFrom((eb) => eb.fn<string>('current_setting', [eb.val('lock_timeout')]).as('v')).execute()
          )[0]!.v;
        expect(await setting(t.services.db)).toBe('0');
        expect(await setting(cliLike.db)).toBe('1500ms');
      } finally {
        await cliLike.close();
        await t.close();
      }
    });
  },
);
