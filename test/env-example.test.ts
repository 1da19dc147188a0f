import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/platform/config.js';

const root = path.join(import.meta.dirname, '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** The README promises every variable "listed with its default in .env.example". */
describe('.env.example', () => {
  const example = read('.env.example');

  it('is a configuration Postier starts with, as written', () => {
    const env: Record<string, string> = {};
    for (const line of example.split('\n')) {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
      if (m) env[m[1]!] = m[2]!;
    }
    expect(Object.keys(env).length).toBeGreaterThan(30);
    expect(() => loadConfig(env)).not.toThrow();
  });

  it('names every variable the configuration reads, and each is in docs/configuration.md', () => {
    const source = read('src/platform/config.ts');
    const names = new Set(
      [...source.matchAll(/\br\.(?:raw|string|int|number|bool|list)\('([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]!),
    );
    expect(names.size).toBeGreaterThan(50);
    const docs = read('docs/configuration.md');
    const missing = [...names].filter((n) => !new RegExp(`\\b${n}\\b`).test(example));
    const undocumented = [...names].filter((n) => !docs.includes(`\`${n}\``));
    expect({ missing, undocumented }).toEqual({ missing: [], undocumented: [] });
  });
});
