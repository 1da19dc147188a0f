import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const PACKAGE = path.resolve('packages/python');

/** Every distinct Python 3.9+ here (as test/python-client.test.ts finds them). */
function pythons(): string[] {
  const pyenv = process.env.PYENV_ROOT ?? path.join(homedir(), '.pyenv');
  const candidates = [
    '/usr/bin/python3',
    'python3',
    ...(process.env.POSTIER_TEST_PYTHONS?.split(path.delimiter) ?? []),
  ];
  if (existsSync(path.join(pyenv, 'versions'))) {
    for (const v of readdirSync(path.join(pyenv, 'versions')).filter((d) => /^3\.9\.\d+$/.test(d)))
      candidates.push(path.join(pyenv, 'versions', v, 'bin', 'python3'));
  }
  const found = new Map<string, string>();
  for (const exe of candidates) {
    try {
      const out = execFileSync(
        exe,
        ['-c', 'import os, sys; print(os.path.realpath(sys.executable)); print(sys.version_info >= (3, 9))'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
      const [real, ok] = out.trim().split('\n');
      if (real && ok === 'True' && !found.has(real)) found.set(real, exe);
    } catch {
      // not installed
    }
  }
  return [...found.values()];
}

/** Runs the Python client's own unittest module: it starts its real loopback servers itself. */
function unittest(python: string, module: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      python,
      ['-m', 'unittest', module, '-v'],
      { cwd: PACKAGE, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }, timeout: 60_000 },
      (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

const found = pythons();

describe('the Python client against misbehaving servers (outside review)', () => {
  it('finds a Python 3.9+', () => expect(found).not.toEqual([]));

  it.each(found)(
    'tests/test_review_faults.py passes with %s',
    async (python) => {
      const run = await unittest(python, 'tests.test_review_faults');
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/^OK$/m);
      expect(run.stderr).toMatch(/test_a_body_shorter_than_its_content_length_is_a_retryable_network_error .* ok/);
    },
    70_000,
  );
});
