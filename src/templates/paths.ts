import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's `templates/` folder, found from this file in src/ or in dist/src/. */
const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_TEMPLATES_DIR = path.resolve(
  here,
  here.includes(`${path.sep}dist${path.sep}`) ? '../../../templates' : '../../templates',
);
export const DEFAULT_TEMPLATES_DIR = path.join(REPO_TEMPLATES_DIR, 'emails');
export const LAYOUTS_DIR = path.join(REPO_TEMPLATES_DIR, 'layouts');
