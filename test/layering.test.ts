import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const depcruise = `${root}node_modules/.bin/depcruise`;
const config = `${root}.dependency-cruiser.cjs`;

async function cruise(cwd: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(depcruise, ['src', '--config', config, '--output-type', 'err'], { cwd });
    return { code: 0, out: stdout };
  } catch (e) {
    const err = e as { code: number; stdout: string };
    return { code: err.code, out: err.stdout };
  }
}

describe('layering rules (.dependency-cruiser.cjs)', () => {
  it('catch every kind of violation in a tree built to break them', async () => {
    const { code, out } = await cruise(`${root}test/fixtures/layering`);
    expect(code).not.toBe(0);
    const broken = [...out.matchAll(/error ([a-z-]+): (\S+) → (\S+)/g)].map((m) => `${m[1]} ${m[2]} ${m[3]}`).sort();
    expect(broken).toEqual([
      'delivery-never-renders src/delivery/worker.ts src/templates/render.ts',
      'events-sit-on-platform src/events/index.ts src/delivery/worker.ts',
      'features-below-http src/delivery/worker.ts src/app/main.ts',
      'features-through-index src/delivery/worker.ts src/templates/render.ts',
      'nothing-imports-app src/delivery/worker.ts src/app/main.ts',
      'platform-is-the-bottom src/platform/db.ts src/events/index.ts',
    ]);
  }, 60_000);
});
