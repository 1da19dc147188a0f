/**
 * npx tsx bench/pg-round-trips.ts (DATABASE_URL=postgres://…): the statements one send costs on
 * PostgreSQL, counted at the driver (pg's Client#query), for single sends and for concurrent ones.
 * A measuring tool: where the time of an accept goes is mostly round trips to the server.
 */
import pg from 'pg';
import { acceptBody } from './lib/accept.js';
import { createLogger } from '../src/platform/log.js';
import { loadConfig } from '../src/platform/config.js';
import { wire } from '../src/app/wiring.js';
import { buildApp } from '../src/http/app.js';

const url = process.env.DATABASE_URL;
if (!url?.startsWith('postgres')) throw new Error('set DATABASE_URL=postgres://…');
const seen: string[] = [];
const query = pg.Client.prototype.query;
// Counting only: every statement any pooled client runs, by its first words.
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string })?.text ?? '?');
  seen.push(text.replace(/\s+/g, ' ').slice(0, 60));
  return (query as (...a: unknown[]) => unknown).apply(this, args);
} as typeof query;

const config = loadConfig({
  DATABASE_URL: url,
  LOG_LEVEL: 'fatal',
  POSTIER_ADMIN_TOKEN: 'x'.repeat(32),
  DATA_DIR: '/tmp/acc',
});
const s = await wire(config, createLogger('fatal'));
const app = await buildApp(s, {});
const send = () =>
  app.inject({
    method: 'POST',
    url: '/api/v1/email/send',
    headers: { authorization: `Bearer ${'x'.repeat(32)}`, 'content-type': 'application/json' },
    payload: acceptBody,
  });
await send();
for (const n of [1, 10, 50]) {
  seen.length = 0;
  const res = await Promise.all(Array.from({ length: n }, send));
  if (res.some((r) => r.statusCode !== 201)) throw new Error(res.find((r) => r.statusCode !== 201)!.body);
  const by = new Map<string, number>();
  for (const q of seen) by.set(q, (by.get(q) ?? 0) + 1);
  console.log(`\n${n} concurrent send(s): ${seen.length} statements, ${(seen.length / n).toFixed(1)} per send`);
  for (const [q, c] of [...by].sort((a, b) => b[1] - a[1])) console.log(`  ${String(c).padStart(4)}  ${q}`);
}
await app.close();
await s.close();
