import { deliveredSplit } from './lib/deliver.js';
import { resetPostgres } from './lib/pg-reset.js';
const pg = 'postgres://postgres@127.0.0.1:54331/postier_bench';
for (let i = 0; i < 2; i++) for (const poll of ['250', '50']) {
  process.env.WORKER_POLL_MS = poll;
  await resetPostgres(pg);
  const r = await deliveredSplit(5000, pg, 2);
  console.log(`poll ${poll}: ${r.rate.toFixed(0)}`);
}
