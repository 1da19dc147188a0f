/**
 * npm run bench:feedback [-- --seconds 5 --n 2000]
 *
 * Reports classified per second by classifyReport over the feedback corpus
 * (test/fixtures/feedback/reports, ordinary reports of a few KB), on one core. The reference row,
 * measured in the same run over the same files, is mailparser's simpleParser alone (parsing, no
 * classification): the ratio between the two rows stays meaningful when the machine is busier or
 * quieter than usual. The goal is 1,000 reports/s on this 2-core machine. Then the
 * inbound listener end to end (bench/lib/feedback.ts): `n` reports over SMTP, stored, then
 * classified and applied.
 */
import { simpleParser } from 'mailparser';
import { classifyReport } from '../src/feedback/index.js';
import { printTable } from '../test/support/table.js';
import { corpus, listenerEndToEnd, perSecond } from './lib/feedback.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('seconds', 5);
const n = arg('n', 2000);
const reports = corpus();
const kb = reports.reduce((x, r) => x + r.length, 0) / reports.length / 1024;
const measure = (one: (raw: Buffer) => unknown) => perSecond(reports, seconds, one);

const classify = await measure((r) => classifyReport(r));
const parse = await measure((r) => simpleParser(r));
printTable(
  `Feedback reports classified per second, ${reports.length} reports (mean ${kb.toFixed(1)} KiB), ${seconds} s each, one core`,
  [
    {
      what: 'classifyReport (bounded MIME walk + classification)',
      'reports/s': Math.round(classify),
      'vs reference': `${(classify / parse).toFixed(1)}x`,
    },
    { what: 'reference: mailparser simpleParser, parse only', 'reports/s': Math.round(parse), 'vs reference': '1.0x' },
  ],
);
const e2e = await listenerEndToEnd(n);
printTable(`Inbound listener end to end, ${e2e.n} reports, 8 SMTP sessions, SQLite`, [
  { what: 'accepted by the listener (stored durably, then 250)', 'reports/s': Math.round(e2e.acceptedPerSecond) },
  { what: 'then classified and applied by one processor', 'reports/s': Math.round(e2e.appliedPerSecond) },
]);
