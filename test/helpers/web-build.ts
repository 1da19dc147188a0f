import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { WEB_DIST_DIR } from '../../src/http/admin-ui.js';
import { newestMtime } from '../support/mtime.js';

const WEB_DIR = path.resolve(WEB_DIST_DIR, '..');

let building: Promise<void> | undefined;

/**
 * The UI tests need web/dist (npm install builds it); rebuild when web/src is newer, so a test
 * run after editing the UI never checks a stale build. Concurrent callers share one build.
 */
export function ensureWebBuilt(): Promise<void> {
  const index = path.join(WEB_DIST_DIR, 'index.html');
  const fresh =
    existsSync(index) &&
    statSync(index).mtimeMs >=
      Math.max(newestMtime(path.join(WEB_DIR, 'src')), statSync(path.join(WEB_DIR, 'index.html')).mtimeMs);
  if (fresh) return Promise.resolve();
  building ??= (async () => {
    const { build } = await import('vite');
    await build({ configFile: path.join(WEB_DIR, 'vite.config.ts'), logLevel: 'warn' });
  })();
  return building;
}
