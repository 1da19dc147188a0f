import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readToken, timeoutOf } from '../src/app/cli/send.js';
import { ADMIN_TOKEN, createTestContext, type TestContext } from './helpers/context.js';
import { listen } from './helpers/http.js';
import { builtMain } from './support/processes.js';

/**
 * `postier send` as a child process, asynchronously: the Postier it talks to lives in this process.
 * A CLI process starts in a second or more: the refusals of each flag's bad values are checked on
 * the functions the command calls (readToken, timeoutOf), and one of each through the command
 * (its exit status and message).
 */
function postier(args: string[], opts: { env?: Record<string, string>; input?: string } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [builtMain(), ...args],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env }, encoding: 'utf8', timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
    child.stdin?.end(opts.input ?? '');
  });
}

const sendArgs = (url: string) => [
  'send',
  '--url',
  url,
  '--template',
  'onboarding_welcome',
  '--to',
  'cli@techconnect.bj',
  '--var',
  'reseller_name=Tech Connect SA',
  '--var',
  'validation_link=https://admin-rgz.duckdns.org',
  '--var',
  'estimated_duration=7 jours',
];

describe('postier send: the API key and the timeout', { timeout: 180_000 }, () => {
  let t: TestContext;
  let url: string;
  beforeAll(async () => {
    builtMain();
    t = await createTestContext('sqlite');
    url = await listen(t);
  });
  afterAll(() => t.close());

  it('reads the key from --token-file (or standard input with -), never needing it on the command line', async () => {
    const file = path.join(t.dir, 'token');
    writeFileSync(file, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
    const fromFile = await postier([...sendArgs(url), '--token-file', file]);
    expect(fromFile.stderr).toBe('');
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toMatch(/^[0-9a-f-]{36}\tcli@techconnect\.bj\tqueued\n$/);
    const fromStdin = await postier([...sendArgs(url), '--token-file', '-'], { input: `${ADMIN_TOKEN}\n` });
    expect(fromStdin.code).toBe(0);
    expect(fromStdin.stdout).toContain('cli@techconnect.bj');

    const empty = path.join(t.dir, 'empty');
    writeFileSync(empty, '\n');
    const refused = await postier([...sendArgs(url), '--token-file', empty]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('the file is empty');
    expect(() => readToken({ tokenFile: path.join(t.dir, 'nope') })).toThrow(/--token-file .*nope: ENOENT/);
  });

  it('warns that --token is visible to other users, and still sends; the token is never printed', async () => {
    const r = await postier([...sendArgs(url), '--token', ADMIN_TOKEN]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/--token is visible to every user of this machine/);
    expect(r.stdout + r.stderr).not.toContain(ADMIN_TOKEN);
    const env = await postier(sendArgs(url), { env: { POSTIER_TOKEN: ADMIN_TOKEN } });
    expect(env.code).toBe(0);
    expect(env.stderr).toBe('');
  });

  it('refuses a --timeout that is not a number of milliseconds with a clear message, before any request', async () => {
    for (const bad of ['abc', '0', '-5', '1.5', '99999999999'])
      expect(() => timeoutOf(bad), bad).toThrow(
        `--timeout ${JSON.stringify(bad)}: expected a whole number of milliseconds`,
      );
    const r = await postier([...sendArgs(url), '--timeout', '1.5'], { env: { POSTIER_TOKEN: ADMIN_TOKEN } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--timeout "1.5": expected a whole number of milliseconds');
    const count = await t.services.db
      .selectFrom('email_messages')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    // Only the sends of the cases above, none from these.
    expect(Number(count.n)).toBe(4);
  });
});
