import { measureAccept } from './bench/lib/accept.js';
const r = await measureAccept({ env: { DATABASE_URL: process.env.DATABASE_URL!, API_PROCESSES: '1' }, seconds: Number(process.env.SECS ?? 8), connections: 64 });
console.log(JSON.stringify(r));
