import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The delivery thread of `postier serve` loads its own copy of every module it imports. It
 * opens only the delivery core, so the packages of the API side must stay out of its import
 * graph: loaded there they cost tens of MB per process (peak RSS draining 100k was 355 MB with
 * them, 249 MB without).
 */
const API_ONLY = ['liquidjs', 'juice', 'html-to-text', 'fastify', 'smtp-server', 'mailparser', '@fastify/static'];

/** Runtime imports (not `import type`) of our sources, followed from `entry`; returns the packages reached. */
function packagesReachedFrom(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    const specifiers = [
      ...source.matchAll(/^import\s+(?!type\s)[^'"]*?from\s+'([^']+)'/gm),
      ...source.matchAll(/^import\s+'([^']+)'/gm),
      ...source.matchAll(/^export\s+(?!type\s)[^'"]*?from\s+'([^']+)'/gm),
      ...source.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
      // A lazy load (database.ts: pg only for PostgreSQL) counts as reached: the walk does not
      // know which branch runs.
      ...source.matchAll(/\brequire\(\s*'([^']+)'\s*\)/g),
    ].map((m) => m[1]!);
    if (/^import[^;]*?from\s+"|\brequire\((?!\s*'[^']+'\s*\))/m.test(source)) {
      throw new Error(`${file}: an import this walk does not read (double quotes, require of a computed name)`);
    }
    for (const spec of specifiers) {
      if (spec.startsWith('.')) {
        const ts = path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'));
        // A relative import this walk cannot follow would hide a whole subtree: fail instead.
        if (!existsSync(ts)) throw new Error(`${file}: cannot follow import ${spec}`);
        visit(ts);
      } else if (!spec.startsWith('node:')) {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
  };
  visit(path.resolve(entry));
  return packages;
}

describe('delivery thread imports', () => {
  it('reaches the packages delivery needs and none of the API side', () => {
    const reached = packagesReachedFrom('src/app/delivery-thread-entry.ts');
    // The walk works: delivery's own packages are found.
    expect([...reached]).toEqual(expect.arrayContaining(['kysely', 'better-sqlite3', 'prom-client', 'pg']));
    expect(API_ONLY.filter((p) => reached.has(p))).toEqual([]);
  });

  it('would catch the API side if the thread opened the full services', () => {
    const reached = packagesReachedFrom('src/app/wiring.ts');
    expect(API_ONLY.filter((p) => reached.has(p)).length).toBeGreaterThan(0);
  });
});
