import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

/**
 * The year-of-archive bench at a tiny size, SQLite only: it seeds, measures and prints every row
 * (the figures themselves belong to `npm run bench:archive`, not to a test).
 */
it('bench/archive.ts runs at a small size and prints its tables', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'postier-bench-archive-'));
  try {
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/archive.ts',
        '--messages',
        '3000',
        '--bytes-messages',
        '100',
        // Every table and row, each timed loop short and the with/without alternation once: the
        // figures are not checked here, only that each measurement runs and prints.
        '--seconds',
        '0.2',
        '--rounds',
        '1',
        '--no-pg',
      ],
      { env: { ...process.env, BENCH_ARCHIVE_DIR: dir }, maxBuffer: 10 * 1024 * 1024, timeout: 240_000 },
    );
    const bytes = /\| sqlite\s+\| 50\s+\| 100\s+\| (\d+)\s+\|/.exec(stdout);
    expect(bytes, stdout).not.toBeNull();
    expect(Number(bytes![1])).toBeGreaterThan(100);
    expect(stdout).toMatch(/\| sqlite\s+\| 1\s+\| 100\s+\| \d+/);
    // What the search indexes and the category index cost accept: a row each, with and without.
    expect(stdout).toMatch(/search indexes cost accept[^]*\| sqlite\s+\| \d+ \(\d+\)\s+\| \d+ \(\d+\)/);
    expect(stdout).toMatch(/\| sqlite\s+\| fresh databases\s+\| \d+ \(\d+\)\s+\| \d+ \(\d+\)/);
    expect(stdout).toMatch(/\| sqlite\s+\| the seeded archive \(3000\)\s+\| \d+ \(\d+\)\s+\| \d+ \(\d+\)/);
    for (const what of [
      'accepted/s',
      'GET messages?to=',
      'search q=to:<part of an address>',
      'dashboard stats (7 days)',
    ])
      expect(stdout, what).toContain(what);
    expect(stdout).toMatch(/messages in the archive\s+\| \d{4,} /);
    expect(stdout).toMatch(/purge of one day\s+\| \d+ msgs in/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
