import { measureAccept, measureBatch } from './lib/accept.js';
import { deliveredPerSecond } from './lib/deliver.js';
import { resetPostgres } from './lib/pg-reset.js';
import { submissionAccepted } from './lib/submission.js';
const acc = 'postgres://postgres@127.0.0.1:54331/bench_acc';
const e2e = process.env.E2E_URL ?? 'postgres://postgres@127.0.0.1:54331/bench_e2e';
const sub = 'postgres://postgres@127.0.0.1:54331/bench_sub';
const what = process.env.WHAT ?? 'sub,batch,accept,e2e';
for (let round = 1; round <= Number(process.env.ROUNDS ?? 2); round++) {
  if (what.includes('sub')) {
    console.log(`r${round} sub sqlite`, (await submissionAccepted({ messages: 12000 })).rate.toFixed(0));
    await resetPostgres(sub);
    console.log(`r${round} sub pg`, (await submissionAccepted({ messages: 12000, env: { DATABASE_URL: sub } })).rate.toFixed(0));
  }
  if (what.includes('batch')) {
    for (const distinct of [false, true]) console.log(`r${round} batch sqlite ${distinct ? 'distinct' : 'same'}`, JSON.stringify(await measureBatch({ env: {}, seconds: 5, connections: 8, size: 100, distinct })));
    await resetPostgres(acc);
    console.log(`r${round} batch pg same`, JSON.stringify(await measureBatch({ env: { DATABASE_URL: acc }, seconds: 5, connections: 8, size: 100 })));
  }
  if (what.includes('accept')) {
    const s = await measureAccept({ env: {}, seconds: 5, connections: 64 });
    await resetPostgres(acc);
    const p = await measureAccept({ env: { DATABASE_URL: acc }, seconds: 5, connections: 64 });
    console.log(`r${round} accept sqlite`, JSON.stringify(s), `\nr${round} accept pg`, JSON.stringify(p), 'ratio', (p['accepted/s'] / s['accepted/s']).toFixed(2));
  }
  if (what.includes('e2e')) {
    const s = await deliveredPerSecond(3000, 32);
    await resetPostgres(e2e);
    const p = await deliveredPerSecond(3000, 32, e2e);
    console.log(`r${round} e2e sqlite ${s.rate.toFixed(0)} pg ${p.rate.toFixed(0)} ratio ${(p.rate / s.rate).toFixed(2)}`);
  }
}
