import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostierClient } from '../packages/client/src/index.js';
import { ADMIN_TOKEN, backends, createTestContext, type TestContext } from './helpers/context.js';
import { listen } from './helpers/http.js';

const PACKAGE = path.resolve('packages/python');
const EXAMPLE = path.resolve('examples/saas-lifecycle-python');

interface Python {
  exe: string;
  version: string;
}

/**
 * Every distinct Python 3.9+ here: Debian's, the one on PATH, and a pyenv 3.9 (the oldest the
 * package supports) when one is installed. POSTIER_TEST_PYTHONS adds more (path-separated).
 */
function pythons(): Python[] {
  const pyenv = process.env.PYENV_ROOT ?? path.join(homedir(), '.pyenv');
  const candidates = [
    '/usr/bin/python3',
    'python3',
    ...(process.env.POSTIER_TEST_PYTHONS?.split(path.delimiter) ?? []),
  ];
  if (existsSync(path.join(pyenv, 'versions'))) {
    const versions = readdirSync(path.join(pyenv, 'versions')).filter((d) => /^3\.9\.\d+$/.test(d));
    candidates.push(...versions.map((v) => path.join(pyenv, 'versions', v, 'bin', 'python3')));
  }
  const found = new Map<string, Python>();
  for (const exe of candidates) {
    try {
      const probe =
        'import os, sys; print(os.path.realpath(sys.executable)); print(sys.version_info >= (3, 9)); print(sys.version.split()[0])';
      const out = execFileSync(exe, ['-c', probe], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const [real, supported, version] = out.trim().split('\n');
      if (real && supported === 'True' && !found.has(real)) found.set(real, { exe, version: version! });
    } catch {
      // not installed, or a pyenv shim without that version: try the next
    }
  }
  return [...found.values()];
}

interface Run {
  code: number;
  stderr: string;
  /** unittest's summary: "Ran N tests" and the closing "OK" line. */
  ran: number;
  verdict: string;
  ids: string[];
}

function unittest(python: Python, cwd: string, env: Record<string, string>): Promise<Run> {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-python-'));
  const report = path.join(dir, 'sent.jsonl');
  return new Promise((resolve) => {
    execFile(
      python.exe,
      ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.', '-v'],
      // No __pycache__ in the work tree; each run its own report of the messages it sent.
      {
        cwd,
        env: { ...process.env, ...env, PYTHONDONTWRITEBYTECODE: '1', POSTIER_TEST_REPORT: report },
        timeout: 170_000,
        maxBuffer: 16 << 20,
      },
      (err, _stdout, stderr) => {
        const ids = existsSync(report)
          ? readFileSync(report, 'utf8')
              .trim()
              .split('\n')
              .filter(Boolean)
              .map((l) => (JSON.parse(l) as { id: string }).id)
          : [];
        rmSync(dir, { recursive: true, force: true });
        const lines = stderr.trimEnd().split('\n');
        resolve({
          code: err ? ((err as { code?: number }).code ?? 1) : 0,
          stderr,
          ran: Number(/^Ran (\d+) tests? in /m.exec(stderr)?.[1] ?? 0),
          verdict: lines[lines.length - 1] ?? '',
          ids,
        });
      },
    );
  });
}

const found = pythons();

// Both databases at once: most of a run is the Python side's own waiting (its timeout cases: 8 s
// for the example's hanging Postier), which needs no CPU.
describe.concurrent.each(backends)(
  'the Python client and its SaaS lifecycle example against a real Postier on %s',
  (backend) => {
    let t: TestContext;
    let url: string;
    let sendToken: string;
    let archive: PostierClient;
    // PostgreSQL runs one interpreter: what differs between interpreters is Python, not the store.
    const interpreters = backend === 'sqlite' ? found : found.slice(0, 1);

    beforeAll(async () => {
      t = await createTestContext(backend);
      url = await listen(t);
      sendToken = (await t.services.apiKeys.create('python-client', 'send', 'test')).token;
      archive = new PostierClient({ baseUrl: url, token: ADMIN_TOKEN });
    });
    afterAll(() => t.close());

    it('finds a Python 3.9+ to run them with', () => {
      expect(found.map((p) => p.exe)).not.toEqual([]);
    });

    const env = () => ({ POSTIER_URL: url, POSTIER_SEND_TOKEN: sendToken, POSTIER_ADMIN_TOKEN: ADMIN_TOKEN });

    const expectArchived = async (ids: string[]) => {
      for (const id of ids) {
        const m = await archive.getMessage(id);
        expect(m.id).toBe(id);
        expect(m.source_endpoint).toBeTruthy();
      }
    };

    it.concurrent.each(interpreters.map((p) => [`${p.exe} (${p.version})`, p] as const))(
      'packages/python tests pass with %s, nothing skipped, and their sends are in the archive',
      async (_name, python) => {
        const run = await unittest(python, PACKAGE, env());
        expect(run.code, run.stderr).toBe(0);
        expect(run.verdict, run.stderr).toBe('OK');
        expect(run.ran).toBeGreaterThanOrEqual(39);
        // Sends with attachments, options, lists, typed variables, idempotency and paging.
        expect(run.ids.length).toBeGreaterThanOrEqual(12);
        await expectArchived(run.ids);
        const attached = await Promise.all(run.ids.map(async (id) => (await archive.getMessage(id)).attachments));
        expect(attached.flat()).toContainEqual(
          expect.objectContaining({ filename: 'invoice_2026-02.pdf', content_type: 'application/pdf' }),
        );
        // An empty file read from disk (attachment_from_path) arrives as zero bytes.
        expect(attached.flat()).toContainEqual(
          expect.objectContaining({ filename: 'incidents.csv', content_type: 'text/csv', size_bytes: 0 }),
        );
      },
      180_000,
    );

    it.concurrent.each(interpreters.map((p) => [`${p.exe} (${p.version})`, p] as const))(
      'the SaaS lifecycle example passes its four scenarios and its Postier stopped, hanging and refusing cases with %s',
      async (_name, python) => {
        const run = await unittest(python, EXAMPLE, { ...env(), PYTHONPATH: PACKAGE });
        expect(run.code, run.stderr).toBe(0);
        expect(run.verdict, run.stderr).toBe('OK');
        expect(run.stderr).toMatch(/test_scenario_1_.* \.\.\. ok/);
        expect(run.stderr).toMatch(/test_every_transition_completes_when_postier_is_stopped .* \.\.\. ok/);
        expect(run.ran).toBeGreaterThanOrEqual(9);
        await expectArchived(run.ids);
        const templates = new Set<string | null>();
        for (const id of run.ids) templates.add((await archive.getMessage(id)).template_key);
        expect([...templates].sort()).toEqual([
          'instance_provisioned',
          'instance_reactivated',
          'instance_suspended',
          'instance_terminated',
        ]);
      },
      180_000,
    );
  },
);
