import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, createTestContext, type TestContext } from './helpers/context.js';
import { databaseUrlOf } from './helpers/child-env.js';
import { builtMain } from './support/processes.js';

/**
 * Revoking by token prefix (`postier keys revoke <prefix>`, DELETE /api/v1/keys/<prefix>) when two
 * keys share that prefix (ten characters, 36 random bits: rare, not impossible) revoked whichever
 * row the database returned first, possibly not the leaked key. It now revokes nothing and names
 * the keys, to be revoked by id; a prefix that one key has still revokes it.
 *
 * The refusal is checked through the CLI (exit 1, its one line); revoking by id and by a unique
 * prefix through apiKeys.revoke, the service the command calls (a CLI process starts in a second
 * or more; test/cli.test.ts checks the command's own line for a key it revokes).
 */

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe.each(backends)('revoking by an ambiguous token prefix (%s)', { timeout: 240_000 }, (backend) => {
  let t: TestContext;
  let cli: (...args: string[]) => Promise<Ran>;
  beforeAll(async () => {
    t = await createTestContext(backend);
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: databaseUrlOf(t), DATA_DIR: t.dir };
    cli = (...args) =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [builtMain(), ...args],
          { env: { ...env, LOG_LEVEL: 'silent' }, encoding: 'utf8', timeout: 120_000 },
          (error, stdout, stderr) => {
            const code = (error as { code?: unknown } | null)?.code;
            resolve({ status: error ? (typeof code === 'number' ? code : null) : 0, stdout, stderr });
          },
        );
      });
  });
  afterAll(() => t?.close());

  /** Two keys with one token prefix (the second's made the first's, as a collision would). */
  async function twins(): Promise<{
    a: { id: string; name: string };
    b: { id: string; name: string };
    prefix: string;
  }> {
    const a = (await t.services.apiKeys.create(`billing-${backend}`, 'send', 'test')).key;
    const b = (await t.services.apiKeys.create(`erp-${backend}`, 'admin', 'test')).key;
    await t.services.db.updateTable('api_keys').set({ token_prefix: a.prefix }).where('id', '=', b.id).execute();
    return { a, b, prefix: a.prefix };
  }

  const revokedAt = async (...ids: string[]) =>
    (
      await t.services.db
        .selectFrom('api_keys')
        .select(['id', 'revoked_at'])
        .where('id', 'in', ids)
        .orderBy('id')
        .execute()
    ).map((r) => [r.id, r.revoked_at]);

  it('postier keys revoke <prefix> refuses, naming both keys, and revokes neither; by id the service revokes that one', async () => {
    const { a, b, prefix } = await twins();
    const r = await cli('keys', 'revoke', prefix);
    expect(r.status, r.stderr).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(r.stderr).toContain(`Token prefix "${prefix}" matches 2 API keys, so none was revoked`);
    expect(r.stderr).toContain(`${a.id} (${a.name})`);
    expect(r.stderr).toContain(`${b.id} (${b.name})`);
    expect(r.stderr).toContain('by its id');
    expect(r.stdout).not.toContain('Revoked');
    expect(await revokedAt(a.id, b.id)).toEqual(
      [
        [a.id, null],
        [b.id, null],
      ].sort(),
    );

    const byId = await t.services.apiKeys.revoke(b.id);
    expect(byId).toMatchObject({ id: b.id, name: b.name });
    const after = Object.fromEntries(await revokedAt(a.id, b.id));
    expect(after[a.id]).toBeNull();
    expect(after[b.id]).not.toBeNull();
  });

  it('a prefix that one key has still revokes it', async () => {
    const { key } = await t.services.apiKeys.create(`solo-${backend}`, 'send', 'test');
    expect(await t.services.apiKeys.revoke(key.prefix)).toMatchObject({ id: key.id });
    expect((await revokedAt(key.id))[0]![1]).not.toBeNull();
  });

  it('DELETE /api/v1/keys/<prefix> answers 409 conflict with the matches, revoking neither', async () => {
    const { a, b, prefix } = await twins();
    const res = await t.inject({ method: 'DELETE', url: `/api/v1/keys/${prefix}` });
    expect(res.statusCode).toBe(409);
    const { error } = res.json() as {
      error: {
        code: string;
        details: { reason: string; matches: Array<{ id: string; name: string; prefix: string }> };
      };
    };
    expect(error.code).toBe('conflict');
    expect(error.details.reason).toBe('ambiguous_prefix');
    expect(error.details.matches.sort((x, y) => x.id.localeCompare(y.id))).toEqual(
      [
        { id: a.id, name: a.name, prefix },
        { id: b.id, name: b.name, prefix },
      ].sort((x, y) => x.id.localeCompare(y.id)),
    );
    expect((await revokedAt(a.id, b.id)).every(([, at]) => at === null)).toBe(true);
    // By id, as the admin UI revokes, it revokes that key.
    expect((await t.inject({ method: 'DELETE', url: `/api/v1/keys/${a.id}` })).statusCode).toBe(200);
    const after = Object.fromEntries(await revokedAt(a.id, b.id));
    expect(after[a.id]).not.toBeNull();
    expect(after[b.id]).toBeNull();
  });
});
