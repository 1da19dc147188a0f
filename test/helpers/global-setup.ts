import pg from 'pg';
import { ensureWebBuilt } from './web-build.js';

/** Once per run, before any worker: the admin UI tests need a current web/dist. */
export default async function setup(): Promise<() => Promise<void>> {
  await ensureWebBuilt();
  return teardown;
}

/**
 * Test files drop nothing while the run goes on: a schema dropped in the middle of another
 * file's migration breaks Kysely's introspection there ("schema … does not exist"). The test
 * schemas (t_<pid>_…) go once every file has finished.
 */
async function teardown(): Promise<void> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>(`select nspname from pg_namespace where nspname ~ '^t_[0-9]+_'`);
    for (const r of rows) await client.query(`drop schema if exists "${r.nspname}" cascade`);
  } finally {
    await client.end();
  }
}
