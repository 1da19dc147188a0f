/**
 * npm run bench [-- --quick] [-- --queued 100000 --queued-runs 3 --rate 500 --runs 3 --no-pg --archive-messages N]
 *
 * One table for this machine: each figure is the median of `runs` runs (3 by default, 1 with
 * --quick) with its range. Postier's accept rate on SQLite and PostgreSQL, end-to-end delivery
 * rate (wrk and Postfix's smtp-sink around Postier, then a load generator and sink in Node), accept→delivered latency at a fixed offered rate (open loop), memory, database size and
 * drain time with a large backlog queued, template renders/s, and reference senders measured in
 * the same runs, each with Postier's delivered/s as a ratio to it. Then bench/archive.ts once (archive
 * bytes per message, and a year of archive: 2,000,000 messages, 20,000 with --quick), its tables after.
 *
 * PostgreSQL: DATABASE_URL=postgres://… if given, else a throwaway cluster started with
 * scripts/test-postgres.sh (port 54340) and stopped at the end. Installs what it needs with
 * apt-get only when missing (postfix's .deb is downloaded and extracted, not installed).
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { measureAccept, measureBatch } from './lib/accept.js';
import {
  deliveredPerSecond,
  deliveredSplit,
  fixedRateLatency,
  mb,
  pooledNodemailer,
  queuedThenDrained,
  rendersPerSecond,
  sampleContent,
  WARMUP,
} from './lib/deliver.js';
import { mimeBuildCost } from './lib/mime.js';
import { classifiedPerSecond, listenerEndToEnd } from './lib/feedback.js';
import { deliveredWithCTools } from './lib/c-tools.js';
import { resetPostgres } from './lib/pg-reset.js';
import { noopListenerAccepted, submissionAccepted } from './lib/submission.js';
import { ensureJinja, ensurePostfixTools, ensureWrk, seedStyle, smtpSourceToSink } from './lib/refs.js';
import { SmtpSink } from '../test/support/smtp-sink.js';
import { printTable } from '../test/support/table.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    queued: { type: 'string' },
    'queued-runs': { type: 'string' },
    rate: { type: 'string', default: '500' },
    'rate-seconds': { type: 'string' },
    'accept-seconds': { type: 'string' },
    connections: { type: 'string', default: '64' },
    'no-pg': { type: 'boolean', default: false },
    'archive-messages': { type: 'string' },
  },
});
const quick = args.quick;
const P = {
  runs: Number(args.runs ?? (quick ? 1 : 3)),
  acceptSeconds: Number(args['accept-seconds'] ?? (quick ? 2 : 5)),
  connections: Number(args.connections),
  delivered: quick ? 2000 : 5000,
  wrkSeconds: quick ? 5 : 15,
  rate: Number(args.rate),
  rateSeconds: Number(args['rate-seconds'] ?? (quick ? 2 : 5)),
  queued: Number(args.queued ?? (quick ? 5000 : 100000)),
  queuedRuns: Number(args['queued-runs'] ?? args.runs ?? (quick ? 1 : 3)),
  renderMs: quick ? 500 : 2000,
  smtpSource: quick ? 10000 : 50000,
  submission: quick ? 3000 : 20000,
  seed: quick ? 200 : 1000,
  pooled: quick ? 1000 : 5000,
  batchSize: 100,
  batchConnections: 8,
};
const loadAtStart = loadavg()
  .map((x) => x.toFixed(1))
  .join(' ');
const log = (m: string) => console.error(`bench: ${m}`);

// ---------------------------------------------------------------- setup --
ensurePostfixTools();
ensureWrk();
ensureJinja();

let pgUrl = process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : undefined;
let pgStarted = false;
const pgEnv = { ...process.env, PGPORT: '54340', POSTIER_PG_STATE: '/tmp/bench-pg.state' };
if (!pgUrl && !args['no-pg']) {
  try {
    log('starting a throwaway PostgreSQL cluster (scripts/test-postgres.sh, port 54340)');
    pgUrl = execFileSync('bash', [path.join(root, 'scripts/test-postgres.sh'), 'start'], {
      env: pgEnv,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    pgStarted = true;
  } catch (e) {
    log(`PostgreSQL unavailable, its row is skipped: ${(e as Error).message.split('\n')[0]}`);
  }
}

// ---------------------------------------------------------------- runs --
type Series = number[];
const S: Record<string, Series> = {};
const add = (k: string, v: number) => (S[k] ??= []).push(v);
const content = await sampleContent();
const refSink = await SmtpSink.start({ fast: true });
let archiveTables = '';

try {
  for (let run = 1; run <= P.runs; run++) {
    const accepts: Array<[key: string, label: string, env: Record<string, string>]> = [
      ['acc.sqlite', 'SQLite', {}],
      ['acc.sqlite2', 'SQLite, API_PROCESSES=2', { API_PROCESSES: '2' }],
      ...(pgUrl ? [['acc.pg', 'PostgreSQL', { DATABASE_URL: pgUrl }] as [string, string, Record<string, string>]] : []),
    ];
    for (const [key, label, env] of accepts) {
      log(`run ${run}/${P.runs}: accept (${label})`);
      if (env.DATABASE_URL) await resetPostgres(env.DATABASE_URL);
      const a = await measureAccept({
        env,
        seconds: P.acceptSeconds,
        connections: P.connections,
        warmup: quick ? 1 : 2,
      });
      add(key, a['accepted/s']);
      add(`${key}.p99`, a['p99 ms']);
    }
    // Within the run, so machine load affects both alike.
    if (pgUrl) add('acc.ratio', S['acc.pg']!.at(-1)! / S['acc.sqlite']!.at(-1)!);
    for (const [key, label, env] of [
      ['batch.sqlite', 'SQLite', {}],
      ...(pgUrl ? [['batch.pg', 'PostgreSQL', { DATABASE_URL: pgUrl }]] : []),
    ] as Array<[string, string, Record<string, string>]>) {
      log(`run ${run}/${P.runs}: batch accept, ${P.batchSize} messages a request (${label})`);
      if (env.DATABASE_URL) await resetPostgres(env.DATABASE_URL);
      const b = await measureBatch({
        env,
        seconds: P.acceptSeconds,
        connections: P.batchConnections,
        size: P.batchSize,
        warmup: quick ? 1 : 2,
      });
      add(key, b['accepted/s']);
      add(`${key}.p99`, b['p99 ms']);
    }
    log(`run ${run}/${P.runs}: batch accept, ${P.batchSize} distinct messages a request (SQLite)`);
    const distinct = await measureBatch({
      env: {},
      seconds: P.acceptSeconds,
      connections: P.batchConnections,
      size: P.batchSize,
      distinct: true,
      warmup: quick ? 1 : 2,
    });
    add('batch.distinct', distinct['accepted/s']);
    add('batch.distinct.p99', distinct['p99 ms']);
    log(`run ${run}/${P.runs}: SMTP submission accepted/s, smtp-source → listener (${P.submission} messages)`);
    const sub = await submissionAccepted({ messages: P.submission });
    add('sub.sqlite', sub.rate);
    add('sub.sqlite.stored', sub.archivedRate);
    const subRef = (await noopListenerAccepted({ messages: P.submission })).rate;
    add('ref.sub', subRef);
    add('ratio.sub', sub.rate / subRef);
    if (pgUrl) {
      const subPg = await submissionAccepted({ messages: P.submission, env: { DATABASE_URL: pgUrl } });
      add('sub.pg', subPg.rate);
      add('sub.pg.stored', subPg.archivedRate);
    }
    log(`run ${run}/${P.runs}: delivered/s end to end, wrk → Postier → smtp-sink (${P.wrkSeconds} s)`);
    const c = await deliveredWithCTools({ seconds: P.wrkSeconds, connections: 32 });
    add('c.delivered', c.rate);
    add('c.accepted', c.acceptRate);
    add('c.during', c.deliveredWhileAccepting);
    log(`run ${run}/${P.runs}: delivered/s end to end, Node load generator and sink (${P.delivered} messages)`);
    const d = await deliveredPerSecond(P.delivered);
    add('delivered', d.rate);
    add('bytes', d.avgBytes);
    if (pgUrl) {
      log(`run ${run}/${P.runs}: delivered/s end to end on PostgreSQL, one postier serve (${P.delivered} messages)`);
      await resetPostgres(pgUrl);
      const p1 = await deliveredPerSecond(P.delivered, 32, pgUrl);
      add('delivered.pg', p1.rate);
      add('delivered.pg.ratio', p1.rate / d.rate);
      log(`run ${run}/${P.runs}: delivered/s end to end on PostgreSQL, serve --no-worker + 2 workers`);
      await resetPostgres(pgUrl);
      const p2 = await deliveredSplit(P.delivered, pgUrl, 2);
      add('delivered.pg2', p2.rate);
      add('delivered.pg2.ratio', p2.rate / d.rate);
    }
    log(`run ${run}/${P.runs}: fixed rate ${P.rate}/s for ${P.rateSeconds} s`);
    const f = await fixedRateLatency(P.rate, P.rateSeconds);
    add('lat.p50', f.p50);
    add('lat.p99', f.p99);
    log(`run ${run}/${P.runs}: template renders`);
    add('renders', await rendersPerSecond(P.renderMs));
    log(`run ${run}/${P.runs}: MIME build`);
    const mime = await mimeBuildCost(content.rendered, { n: quick ? 1000 : 5000, rounds: quick ? 3 : 5 });
    add('mime', mime.usPerBuild);
    add('mime.dkim', mime.usPerBuildSigned);
    add('mime.nodemailer', mime.usPerNodemailer);
    log(`run ${run}/${P.runs}: feedback reports classified, and through the inbound listener`);
    add('fb.classify', await classifiedPerSecond(quick ? 1 : 3));
    const fb = await listenerEndToEnd(quick ? 300 : 2000);
    add('fb.accepted', fb.acceptedPerSecond);
    add('fb.applied', fb.appliedPerSecond);
    log(`run ${run}/${P.runs}: references`);
    const src = await smtpSourceToSink(P.smtpSource, d.avgBytes);
    add('ref.smtp', src);
    // The C reference against the figure measured with C tools around Postier.
    add('ratio.smtp', c.rate / src);
    const seed = await seedStyle(P.seed, refSink.port, {
      subject: content.rendered.subject,
      html: content.rendered.html,
      text: content.rendered.text ?? '',
      vars: content.vars,
    });
    add('ref.seed', seed);
    add('ratio.seed', d.rate / seed);
    const pooled = await pooledNodemailer(P.pooled, refSink, content);
    add('ref.pool', pooled);
    add('ratio.pool', d.rate / pooled);
  }
  for (let run = 1; run <= P.queuedRuns; run++) {
    log(`run ${run}/${P.queuedRuns}: ${P.queued} queued with the worker stopped, then drained`);
    const q = await queuedThenDrained(P.queued);
    add('q.rss', mb(q.rssPeak));
    add('q.rssQueued', mb(q.rssQueued));
    add('q.db', q.dbBytes / 1024 / 1024);
    add('q.drain', q.drainSecs);
    add('q.fill', q.queueSecs);
  }
  // The archive rows (bench/archive.ts) print their own two tables, after this one's runs.
  const archiveMessages = args['archive-messages'] ?? (quick ? '20000' : '2000000');
  log(`archive bytes and a year of archive (${archiveMessages} messages; bench/archive.ts)`);
  // A failure there (a kept archive seeded by another version: run bench:archive --fresh) is
  // reported after this run's table, not instead of it.
  try {
    archiveTables = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(root, 'bench/archive.ts'),
        '--messages',
        archiveMessages,
        '--seconds',
        quick ? '2' : '5',
      ],
      {
        env: { ...process.env, ...(pgUrl ? { DATABASE_URL: pgUrl } : { DATABASE_URL: '' }) },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 16 * 1024 * 1024,
      },
    );
  } catch (e) {
    const out = (e as { stdout?: string }).stdout ?? '';
    archiveTables = `${out}\nbench/archive.ts failed: ${(e as Error).message.split('\n')[0]}\n`;
  }
} finally {
  await refSink.close();
  if (pgStarted) {
    log('stopping the throwaway PostgreSQL cluster');
    execFileSync('bash', [path.join(root, 'scripts/test-postgres.sh'), 'stop'], { env: pgEnv, stdio: 'ignore' });
  }
}

// ---------------------------------------------------------------- table --
const median = (xs: Series) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (v: number, digits: number) => (digits === 0 ? Math.round(v).toLocaleString('en-US') : v.toFixed(digits));
const fig = (k: string, digits = 0) => {
  const xs = S[k];
  if (!xs?.length) return 'skipped';
  const m = fmt(median(xs), digits);
  return xs.length === 1 ? m : `${m} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`;
};
const ratio = (k: string) => {
  const xs = S[k];
  if (!xs?.length) return '';
  return xs.length === 1
    ? `Postier ${median(xs).toFixed(2)}×`
    : `Postier ${median(xs).toFixed(2)}× (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
};
const Q = P.queued.toLocaleString('en-US');
const rows = [
  {
    measure: `accepted/s, SQLite (${P.connections} conns, ${P.acceptSeconds} s)`,
    'median (min–max)': fig('acc.sqlite'),
    notes: `p99 ${fig('acc.sqlite.p99')} ms`,
  },
  {
    measure: `accepted/s, SQLite, API_PROCESSES=2 (${P.connections} conns, ${P.acceptSeconds} s)`,
    'median (min–max)': fig('acc.sqlite2'),
    notes: `p99 ${fig('acc.sqlite2.p99')} ms`,
  },
  {
    measure: `accepted/s, PostgreSQL (${P.connections} conns, ${P.acceptSeconds} s)`,
    'median (min–max)': fig('acc.pg'),
    notes: S['acc.pg'] ? `p99 ${fig('acc.pg.p99')} ms` : 'no PostgreSQL',
  },
  {
    measure: 'accept ratio PostgreSQL ÷ SQLite (same run)',
    'median (min–max)': fig('acc.ratio', 2),
    notes: S['acc.ratio'] ? 'goal ≥ 0.8' : 'no PostgreSQL',
  },
  {
    measure: `batch: messages accepted/s, SQLite (${P.batchSize} a request, ${P.batchConnections} conns, ${P.acceptSeconds} s)`,
    'median (min–max)': fig('batch.sqlite'),
    notes: `p99 ${fig('batch.sqlite.p99')} ms per request; goal ≥ 5,000`,
  },
  {
    measure: `batch: messages accepted/s, PostgreSQL (${P.batchSize} a request, ${P.batchConnections} conns, ${P.acceptSeconds} s)`,
    'median (min–max)': fig('batch.pg'),
    notes: S['batch.pg'] ? `p99 ${fig('batch.pg.p99')} ms per request` : 'no PostgreSQL',
  },
  {
    measure: `batch, every item its own recipient and variables: messages accepted/s, SQLite (${P.batchSize} a request)`,
    'median (min–max)': fig('batch.distinct'),
    notes: `p99 ${fig('batch.distinct.p99')} ms per request; nothing rendered or stored once for several items`,
  },
  {
    measure: `SMTP submission accepted/s, SQLite (smtp-source, 8 sessions, 2 KB, ${P.submission.toLocaleString('en-US')} msgs)`,
    'median (min–max)': fig('sub.sqlite'),
    notes: `each 250 after the durable commit; stored as messages from the spool at ${fig('sub.sqlite.stored')}/s; goal ≥ 2,000/s`,
  },
  {
    measure: `SMTP submission accepted/s, PostgreSQL (smtp-source, 8 sessions, 2 KB, ${P.submission.toLocaleString('en-US')} msgs)`,
    'median (min–max)': fig('sub.pg'),
    notes: S['sub.pg']
      ? `each 250 after the commit; stored from the spool at ${fig('sub.pg.stored')}/s`
      : 'no PostgreSQL',
  },
  {
    measure: `delivered/s end to end, wrk → API + worker → Postfix smtp-sink (32 conns, ${P.wrkSeconds} s)`,
    'median (min–max)': fig('c.delivered'),
    notes: `SQLite; accepted ${fig('c.accepted')}/s, delivered ${fig('c.during')}/s while accepting`,
  },
  {
    measure: `delivered/s end to end, load and sink in Node (${P.delivered.toLocaleString('en-US')} msgs)`,
    'median (min–max)': fig('delivered'),
    notes: `SQLite, ${fig('bytes')} B/message, after ${WARMUP.toLocaleString('en-US')} to warm up`,
  },
  {
    measure: `delivered/s end to end on PostgreSQL, one postier serve (${P.delivered.toLocaleString('en-US')} msgs)`,
    'median (min–max)': fig('delivered.pg'),
    notes: S['delivered.pg']
      ? `load and sink in Node; ${fig('delivered.pg.ratio', 2)}× the SQLite row above (goal ≥ 0.8)`
      : 'no PostgreSQL',
  },
  {
    measure: `delivered/s end to end on PostgreSQL, serve --no-worker + 2 postier worker (${P.delivered.toLocaleString('en-US')} msgs)`,
    'median (min–max)': fig('delivered.pg2'),
    notes: S['delivered.pg2']
      ? `${fig('delivered.pg2.ratio', 2)}× the SQLite row; 4 processes on ${cpus().length} cores`
      : 'no PostgreSQL',
  },
  {
    measure: `accept→delivered p50 ms at ${P.rate}/s offered (open loop, ${P.rateSeconds} s)`,
    'median (min–max)': fig('lat.p50', 1),
    notes: '',
  },
  {
    measure: `accept→delivered p99 ms at ${P.rate}/s offered (open loop, ${P.rateSeconds} s)`,
    'median (min–max)': fig('lat.p99', 1),
    notes: '',
  },
  {
    measure: `peak RSS MB, ${Q} queued then drained`,
    'median (min–max)': fig('q.rss'),
    notes: `postier serve (API + worker thread); ${fig('q.rssQueued')} MB once queued (API)`,
  },
  {
    measure: `database size MB with ${Q} queued`,
    'median (min–max)': fig('q.db', 1),
    notes: `SQLite file + WAL; queued in ${fig('q.fill', 1)} s through the API, 50 recipients a request`,
  },
  {
    measure: `time to drain ${Q} queued, s`,
    'median (min–max)': fig('q.drain', 1),
    notes: S['q.drain'] ? `${Math.round(P.queued / median(S['q.drain']!))} msg/s` : '',
  },
  {
    measure: 'template renders/s (TemplateService.render, in-process)',
    'median (min–max)': fig('renders'),
    notes: 'billing_invoice_monthly',
  },
  {
    measure: 'MIME build µs/message (buildMime, the 2 KB notice, in-process)',
    'median (min–max)': fig('mime', 1),
    notes: `with DKIM ${fig('mime.dkim', 1)} µs; Nodemailer's public API ${fig('mime.nodemailer', 1)} µs`,
  },
  {
    measure: 'feedback reports classified/s (classifyReport, corpus, one core)',
    'median (min–max)': fig('fb.classify'),
    notes: 'goal ≥ 1,000/s',
  },
  {
    measure: 'feedback reports accepted/s by the inbound listener (stored, then 250)',
    'median (min–max)': fig('fb.accepted'),
    notes: `then classified and applied ${fig('fb.applied')}/s by one processor (SQLite)`,
  },
  {
    measure: 'ref: smtp-source → smtp-sink, 8 sessions, msg/s',
    'median (min–max)': fig('ref.smtp'),
    notes: ratio('ratio.smtp'),
  },
  {
    measure: `ref: smtp-server storing nothing, same splice and smtp-source (${P.submission.toLocaleString('en-US')} msgs)`,
    'median (min–max)': fig('ref.sub'),
    notes: `the ceiling of a listener built on smtp-server here; SQLite submission ${ratio('ratio.sub')}`,
  },
  {
    measure: 'ref: seed-style Python smtplib + Jinja2, conn/msg, msg/s',
    'median (min–max)': fig('ref.seed'),
    notes: ratio('ratio.seed'),
  },
  {
    measure: 'ref: plain pooled Nodemailer loop (no DB), msg/s',
    'median (min–max)': fig('ref.pool'),
    notes: ratio('ratio.pool'),
  },
];
const model =
  readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? cpus()[0]?.model ?? 'unknown';
console.log(
  `\nPostier benchmarks — ${new Date().toISOString().replace('T', ' ').slice(0, 16)} UTC — nproc ${cpus().length}, ${model}, node ${process.version}`,
);
console.log(
  `${quick ? 'QUICK (1 run, small counts)' : `median of ${P.runs} runs (min–max)${P.queuedRuns !== P.runs ? `, backlog rows ${P.queuedRuns} run(s)` : ''}`}; ratios = Postier delivered/s ÷ reference, same run; load average at start ${loadAtStart}`,
);
printTable('', rows);
console.log(archiveTables);
process.exit(0);
