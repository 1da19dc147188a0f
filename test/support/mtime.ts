import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** The newest modification time of the files under `dir`, recursively (is a build older than its sources?). */
export function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}
