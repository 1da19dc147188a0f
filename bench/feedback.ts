/**
 * npm run bench:feedback [-- --seconds 5]
 *
 * Reports classified per second by classifyReport over the feedback corpus
 * (test/fixtures/feedback/reports, ordinary reports of a few KB), on one core. The reference row,
 * measured in the same run over the same files, is mailparser's simpleParser alone (parsing, no
 * classification): the ratio between the two rows stays meaningful when the machine is busier or
 * quieter than usual. The goal is 1,000 reports/s on this 2-core machine.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { simpleParser } from 'mailparser';
import { classifyReport } from '../src/feedback/index.js';
import { printTable } from '../test/support/table.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('seconds', 5);
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'feedback', 'reports');
const reports = readdirSync(dir)
  .filter((f) => f.endsWith('.eml'))
  .map((f) => readFileSync(path.join(dir, f)));
const kb = reports.reduce((n, r) => n + r.length, 0) / reports.length / 1024;

/** Runs `one` over the corpus again and again for `seconds`; reports per second. */
async function measure(one: (raw: Buffer) => unknown): Promise<number> {
  for (const r of reports) await one(r);
  let done = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (const r of reports) await one(r);
    done += reports.length;
  }
  return (done / (performance.now() - start)) * 1000;
}

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
