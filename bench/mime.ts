/**
 * npm run bench:mime [-- --n 5000 --rounds 5]
 *
 * The delivery thread's MIME build for the 2 KB notice of the delivery benchmarks (also a row of
 * `npm run bench:deliver`): µs per message for buildMime, with DKIM, and for Nodemailer composing
 * the same message through its public API.
 */
import { parseArgs } from 'node:util';
import { mimeBuildCost } from './lib/mime.js';
import { sampleContent } from './lib/deliver.js';
import { printTable } from '../test/support/table.js';

const { values: args } = parseArgs({
  options: { n: { type: 'string', default: '5000' }, rounds: { type: 'string', default: '5' } },
});
const { rendered } = await sampleContent();
const f = await mimeBuildCost(rendered, { n: Number(args.n), rounds: Number(args.rounds) });
printTable(`bench:mime, node ${process.version}, ${f.bytes} B of MIME`, [
  {
    build: 'buildMime (the delivery thread, once per message)',
    'µs/message': f.usPerBuild,
    'messages/s': Math.round(1e6 / f.usPerBuild),
  },
  {
    build: 'buildMime with DKIM (rsa-sha256, 2048-bit key)',
    'µs/message': f.usPerBuildSigned,
    'messages/s': Math.round(1e6 / f.usPerBuildSigned),
  },
  {
    build: 'ref: Nodemailer public API (stream transport, buffer)',
    'µs/message': f.usPerNodemailer,
    'messages/s': Math.round(1e6 / f.usPerNodemailer),
  },
]);
process.exit(0);
