#!/usr/bin/env node
// The static checks of `npm test` (types, lint, layers, doc links, the API contract), in two lanes
// side by side: the server's type-check takes as long as all the others together, and on two cores
// running them one after another left one core idle for half the time. Each command's output is
// printed when it ends, under its name; the exit code is non-zero if any failed (all still run).
import { spawn } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const lanes = [
  [['typecheck (server)', npm, ['run', '-s', 'typecheck:server']]],
  [
    ['typecheck (web)', npm, ['run', '-s', 'typecheck:web']],
    ['lint', npm, ['run', '-s', 'lint']],
    ['layers', npm, ['run', '-s', 'check:layers']],
    ['doc links', npm, ['run', '-s', 'check:docs']],
    ['contract', npm, ['run', '-s', 'contract', '--', '--check']],
  ],
];

const run = (name, command, args) =>
  new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = [];
    child.stdout.on('data', (d) => output.push(d));
    child.stderr.on('data', (d) => output.push(d));
    child.on('error', (e) => output.push(Buffer.from(`${e.message}\n`)));
    child.on('close', (code) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const text = Buffer.concat(output).toString().trimEnd();
      console.log(`${code === 0 ? '✓' : '✗'} ${name} (${seconds} s)${text && code !== 0 ? `\n${text}` : ''}`);
      resolve(code === 0);
    });
  });

const results = await Promise.all(
  lanes.map(async (lane) => {
    const ok = [];
    for (const [name, command, args] of lane) ok.push(await run(name, command, args));
    return ok;
  }),
);
const failed = results.flat().filter((ok) => !ok).length;
if (failed) {
  console.error(`${failed} check(s) failed`);
  process.exit(1);
}
