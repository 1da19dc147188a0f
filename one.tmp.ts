import { startServer, BENCH_TOKEN } from './bench/lib/server.js';
import { acceptBody } from './bench/lib/accept.js';
const s = await startServer({ env: { LOG_LEVEL: 'fatal', SMTP_HOST: '127.0.0.1', POSTIER_SECRET_KEY: '0123456789abcdef'.repeat(4), DATABASE_URL: process.env.DATABASE_URL! }, args: ['--no-worker'] });
const post = () => fetch(`${s.url}/api/v1/email/send`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_TOKEN}` }, body: acceptBody });
for (let i = 0; i < 3; i++) await post();
console.log('MARK', Date.now());
await Promise.all(Array.from({ length: 8 }, post));
console.log('MARK2', Date.now());
await s.close();
