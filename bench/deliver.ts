/**
 * npm run bench:deliver [-- --seconds 15 --n 5000 --rate 500 --rate-seconds 5 --seed 1000 --queued 100000]
 *
 * The delivery rows of `npm run bench` (bench/all.ts), once each: messages posted by wrk for
 * `seconds` to a `postier serve` child process and delivered by its worker thread to Postfix's
 * smtp-sink (C tools around Postier: bench/lib/c-tools.ts); the same with N messages posted by
 * this process and delivered to a sink in it; latency at a fixed offered rate; the two reference senders to the same kind
 * of sink, with the same rendered content: the seed-style sender (Python smtplib + Jinja2, a
 * connection per message, as the specification designs it; python3-jinja2 is installed with
 * apt-get when missing) and a plain pooled Nodemailer loop; the MIME build alone (bench/mime.ts);
 * optionally a large backlog drained.
 */
import { parseArgs } from 'node:util';
import {
  deliveredPerSecond,
  fixedRateLatency,
  mb,
  pooledNodemailer,
  queuedThenDrained,
  sampleContent,
} from './lib/deliver.js';
import { deliveredWithCTools } from './lib/c-tools.js';
import { mimeBuildCost } from './lib/mime.js';
import { ensureJinja, ensurePostfixTools, ensureWrk, seedStyle } from './lib/refs.js';
import { SmtpSink } from '../test/support/smtp-sink.js';
import { printTable } from '../test/support/table.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    n: { type: 'string', default: '5000' },
    rate: { type: 'string', default: '500' },
    'rate-seconds': { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
    seed: { type: 'string', default: '1000' },
    queued: { type: 'string' },
    db: { type: 'string' },
  },
});
const n = Number(args.n);
const rows: Array<Record<string, string | number>> = [];
ensurePostfixTools();
ensureWrk();
const c = await deliveredWithCTools({ seconds: Number(args.seconds), connections: Number(args.concurrency) });
rows.push({
  sender: 'Postier API → worker, wrk → Postier → Postfix smtp-sink',
  'msg/s': Math.round(c.rate),
  'p50 ms': '-',
  'p99 ms': '-',
  note: `accepted ${Math.round(c.acceptRate)}/s, delivered ${Math.round(c.deliveredWhileAccepting)}/s while accepting; peak RSS ${mb(c.rss)} MB`,
});
const d = await deliveredPerSecond(n, Number(args.concurrency), args.db);
rows.push({
  sender: 'Postier API → worker, load and sink in this Node process',
  'msg/s': Math.round(d.rate),
  'p50 ms': '-',
  'p99 ms': '-',
  note: `${d.avgBytes} B/message, peak RSS ${mb(d.rss)} MB`,
});
const f = await fixedRateLatency(Number(args.rate), Number(args['rate-seconds']), args.db);
rows.push({
  sender: `Postier API → worker at ${args.rate}/s offered`,
  'msg/s': Number(args.rate),
  'p50 ms': f.p50,
  'p99 ms': f.p99,
  note: `${f.late} sends late`,
});
const sink = await SmtpSink.start({ fast: true });
ensureJinja();
const sample = await sampleContent();
const { rendered, vars } = sample;
const seed = await seedStyle(Number(args.seed), sink.port, {
  subject: rendered.subject,
  html: rendered.html,
  text: rendered.text ?? '',
  vars,
});
rows.push({
  sender: 'seed-style: Python smtplib + Jinja2, a connection per message (no DB)',
  'msg/s': Math.round(seed),
  'p50 ms': '-',
  'p99 ms': '-',
  note: `Postier ×${(d.rate / seed).toFixed(1)}`,
});
const pooled = await pooledNodemailer(n, sink, sample);
rows.push({
  sender: 'plain pooled Nodemailer loop (no DB)',
  'msg/s': Math.round(pooled),
  'p50 ms': '-',
  'p99 ms': '-',
  note: `Postier ×${(d.rate / pooled).toFixed(1)}`,
});
const mime = await mimeBuildCost(rendered);
rows.push({
  sender: 'MIME build alone (buildMime, in-process, no DB or network)',
  'msg/s': Math.round(1e6 / mime.usPerBuild),
  'p50 ms': '-',
  'p99 ms': '-',
  note: `${mime.usPerBuild} µs/message; with DKIM ${mime.usPerBuildSigned} µs; Nodemailer's public API ${mime.usPerNodemailer} µs`,
});
await sink.close();
if (args.queued) {
  const q = await queuedThenDrained(Number(args.queued));
  rows.push({
    sender: `${args.queued} queued then drained`,
    'msg/s': Math.round(Number(args.queued) / q.drainSecs),
    'p50 ms': '-',
    'p99 ms': '-',
    note: `peak RSS ${mb(q.rssPeak)} MB (${mb(q.rssQueued)} MB once queued), DB ${mb(q.dbBytes)} MB, queued in ${q.queueSecs.toFixed(1)} s`,
  });
}
printTable(`bench:deliver, node ${process.version}`, rows);
process.exit(0);
