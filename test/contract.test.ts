import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  // Two runs of the generator (each boots the app's routes): npm test's own `contract --check`
  // holds the committed files to the routes; here, that the generator writes what is committed
  // and that --check catches a drift.
  it('generates the committed document and types, and --check fails, naming the file, when one drifts', async () => {
    const made = await contract('--out', dir);
    expect(made.code, made.out).toBe(0);
    for (const f of FILES) expect(readFileSync(join(dir, f), 'utf8'), f).toBe(readFileSync(join(root, f), 'utf8'));
    const file = join(dir, 'web/src/api-schema.ts');
    const types = readFileSync(file, 'utf8');
    expect(types).toContain('"/api/v1/email/send": {');
    expect(types).toContain('export type Answer<');
    writeFileSync(file, types.replace('"partially_sent"', '"partly_sent"'));
    const drifted = await contract('--check', '--out', dir);
    expect(drifted.code).toBe(1);
    expect(drifted.out).toContain('contract drift: web/src/api-schema.ts');
    expect(drifted.out).not.toContain('docs/openapi.json');
  }, 180_000);
});
