import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const depcruise = `${root}node_modules/.bin/depcruise`;
const LAYERS = `${root}.dependency-cruiser.cjs`;
const THREADS = `${root}.dependency-cruiser-threads.cjs`;

async function cruise(cwd: string, config: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(depcruise, ['src', '--config', config, '--output-type', 'err'], { cwd });
    return { code: 0, out: stdout };
  } catch (e) {
    const err = e as { code: number; stdout: string };
    return { code: err.code, out: err.stdout };
  }
}

const broken = (out: string) =>
  [...out.matchAll(/error ([a-z-]+): (\S+) → (\S+)/g)].map((m) => `${m[1]} ${m[2]} ${m[3]}`).sort();

describe('layering rules (.dependency-cruiser.cjs, .dependency-cruiser-threads.cjs)', () => {
  it('catch every kind of violation in a tree built to break them', async () => {
    const { code, out } = await cruise(`${root}test/fixtures/layering`, LAYERS);
    expect(code).not.toBe(0);
    expect(broken(out)).toEqual([
      'delivery-never-renders src/delivery/worker.ts src/templates/render.ts',
      'events-sit-on-platform src/events/index.ts src/delivery/worker.ts',
      'features-below-http src/delivery/worker.ts src/app/main.ts',
      'features-through-index src/delivery/worker.ts src/templates/render.ts',
      'nothing-imports-app src/delivery/worker.ts src/app/main.ts',
      'platform-is-the-bottom src/platform/db.ts src/events/index.ts',
    ]);
  }, 60_000);

  it("find the HTTP side a thread would load through a feature's index, an API package the delivery thread would load, and not what a type-only import names", async () => {
    const { code, out } = await cruise(`${root}test/fixtures/layering`, THREADS);
    expect(code).not.toBe(0);
    // delivery-thread-entry.ts also imports a type of tracking/http.ts: erased, so not a violation.
    expect(broken(out)).toEqual([
      'delivery-thread-no-api-packages src/app/delivery-thread-entry.ts ../../../node_modules/juice/index.js',
      'threads-load-no-http src/app/ingest-thread-entry.ts src/tracking/http.ts',
    ]);
  }, 60_000);
});
