import { execSync } from 'node:child_process';
import { deliveredSplit, deliveredPerSecond } from './lib/deliver.js';
import { resetPostgres } from './lib/pg-reset.js';
const pg = 'postgres://postgres@127.0.0.1:54331/postier_bench';
const n = Number(process.argv[2] ?? 5000);
const mode = process.argv[3] ?? 'split';
await resetPostgres(pg);
const cpu = () => {
  const out = execSync("ps -eo pid,times,args --no-headers").toString().split('\n');
  const m = new Map<string, number>();
  for (const l of out) { const p = l.trim().split(/\s+/); if (p.length < 3) continue; const k = p.slice(2).join(' ').slice(0, 50); if (/postgres|node|tsx/.test(k)) m.set(p[0] + ' ' + k, Number(p[1])); }
  return m;
};
execSync(`psql -h 127.0.0.1 -p 54331 -U postgres -d postier_bench -c "select pg_stat_reset()"`);
const snap = setInterval(() => { for (const [k, v] of cpu()) last.set(k, v); }, 500);
const last = new Map<string, number>(); const first = cpu();
const r = mode === 'split' ? await deliveredSplit(n, pg, 2) : await deliveredPerSecond(n, 32, pg);
clearInterval(snap);
console.log(mode, r.rate.toFixed(0));
const agg = new Map<string, number>(); for (const [k, v] of last) { const name = k.split(' ').slice(1).join(' ').replace(/postgres: .*/, 'postgres backend').slice(0, 40); agg.set(name, (agg.get(name) ?? 0) + v - (first.get(k) ?? 0)); }
for (const [k, v] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(String(v).padStart(5), k);
console.log(execSync(`psql -h 127.0.0.1 -p 54331 -U postgres -d postier_bench -c "select xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted from pg_stat_database where datname='postier_bench'" -c "select relname, seq_scan, seq_tup_read, idx_scan, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del from pg_stat_user_tables where seq_scan+coalesce(idx_scan,0)+n_tup_ins+n_tup_upd > 0 order by 2 desc, 4 desc"`).toString());
