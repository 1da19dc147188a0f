import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const FILES = ['docs/openapi.json', 'web/src/api-schema.ts', 'packages/client/src/api-schema.ts'];

async function contract(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(`${root}node_modules/.bin/tsx`, ['scripts/contract.ts', ...args], {
      cwd: root,
    });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout + err.stderr };
  }
}

describe('the API contract (npm run contract)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postier-contract-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // One run of the generator (it boots the app's routes): npm test's own `contract --check` holds
  // the committed files to the routes; here, that --check catches a drift in one file, names it,
  // and none of the files that match.
  it('--check fails, naming the file, when one drifts, and only that one', async () => {
    for (const f of FILES) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      copyFileSync(join(root, f), join(dir, f));
    }
    const file = join(dir, 'web/src/api-schema.ts');
    const types = readFileSync(file, 'utf8');
    expect(types).toContain('"/api/v1/email/send": {');
    expect(types).toContain('export type Answer<');
    expect(types).toContain('"partially_sent"');
    writeFileSync(file, types.replace('"partially_sent"', '"partly_sent"'));
    const drifted = await contract('--check', '--out', dir);
    expect(drifted.code, drifted.out).toBe(1);
    expect(drifted.out).toContain('contract drift: web/src/api-schema.ts');
    expect(drifted.out).not.toContain('docs/openapi.json');
    expect(drifted.out).not.toContain('packages/client/src/api-schema.ts');
  }, 180_000);
});
