import { ensureWebBuilt } from './web-build.js';

/** Once per run, before any worker: the admin UI tests need a current web/dist. */
export default async function setup(): Promise<void> {
  await ensureWebBuilt();
}
