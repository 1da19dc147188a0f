import { deliveredPerSecond, deliveredSplit } from './lib/deliver.js';
import { resetPostgres } from './lib/pg-reset.js';
const pg = 'postgres://postgres@127.0.0.1:54331/postier_bench';
const n = Number(process.argv[2] ?? 5000);
for (let r = 0; r < Number(process.argv[3] ?? 1); r++) {
  const s = await deliveredPerSecond(n);
  await resetPostgres(pg);
  const p1 = await deliveredPerSecond(n, 32, pg);
  await resetPostgres(pg);
  const p2 = await deliveredSplit(n, pg, 2);
  console.log(`sqlite ${s.rate.toFixed(0)} pg1 ${p1.rate.toFixed(0)} (${(p1.rate / s.rate).toFixed(2)}) split ${p2.rate.toFixed(0)} (${(p2.rate / s.rate).toFixed(2)})`);
}
