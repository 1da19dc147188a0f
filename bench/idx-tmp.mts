import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { BENCH_TOKEN, startServer } from './lib/server.js';
import { acceptBody } from './lib/accept.js';
const variant = process.argv[2] ?? 'base';
const dir = mkdtempSync('/tmp/dual/i-');
const env = { LOG_LEVEL: 'fatal', SMTP_HOST: '127.0.0.1', POSTIER_SECRET_KEY: '0123456789abcdef'.repeat(4), API_PROCESSES: process.env.AP ?? '1' };
let s = await startServer({ port: 8351, env, args: ['--no-worker'], dir });
await s.stop(true);
const sqls: Record<string, string> = {
  base: '',
  partial: `drop index email_messages_provider_id; create index email_messages_provider_id on email_messages(provider_message_id) where provider_message_id is not null;
drop index email_messages_lease; create index email_messages_lease on email_messages(status, lease_expires_at) where lease_expires_at is not null;`,
  nosmtp: `drop index email_messages_provider_id; create index email_messages_provider_id on email_messages(provider_message_id) where provider_message_id is not null;
drop index email_messages_lease; create index email_messages_lease on email_messages(status, lease_expires_at) where lease_expires_at is not null; drop index email_messages_smtp_id; drop index email_messages_anonymize; drop index email_messages_recipient;`,
};
if (sqls[variant]) execFileSync('sqlite3', [`${dir}/postier.db`, sqls[variant]]);
s = await startServer({ port: 8351, env, args: ['--no-worker'], dir });
const run = (d: number) => autocannon({ url: `${s.url}/api/v1/email/send`, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_TOKEN}` }, body: acceptBody, connections: 64, duration: d });
await run(2);
const r = await run(10);
console.log(variant, 'AP', env.API_PROCESSES, 'total/s', r['2xx'] / 10, 'p50', r.latency.p50, 'p99', r.latency.p99, 'non2xx', r.non2xx + r.errors);
await s.stop();
