import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(import.meta.dirname, '..');

function files(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? e.name === 'node_modules' || e.name.startsWith('.')
        ? []
        : files(path.join(dir, e.name))
      : /\.(ts|tsx|mjs|js)$/.test(e.name)
        ? [path.join(dir, e.name)]
        : [],
  );
}

/**
 * Every SQLite connection opens through src/platform/db/better-sqlite3.ts, which picks the driver
 * this Node runs (12 or 13). A file loading the `better-sqlite3` package itself gets 12 on Node
 * 22/24 beside the app's 13: two SQLite copies in one process ignore each other's POSIX locks, and
 * 12's destructor aborts Node 24 (two review tests did it; CI caught it on Node 22 and 24).
 */
describe('the SQLite driver', () => {
  it('is loaded only through platform/db/better-sqlite3 (type imports aside)', () => {
    const offenders = ['src', 'test', 'bench', 'scripts']
      .flatMap(files)
      .filter((f) => f !== path.join('src', 'platform', 'db', 'better-sqlite3.ts'))
      .filter((f) =>
        readFileSync(path.join(root, f), 'utf8')
          .split('\n')
          .some(
            (line) =>
              /(?:from|require\()\s*['"]better-sqlite3(?:-13)?['"]/.test(line) && !/^\s*import type\b/.test(line),
          ),
      );
    expect(offenders).toEqual([]);
  });
});
