import { measureBatch } from './lib/accept.js';
const b = await measureBatch({ env: {}, seconds: 8, connections: 8, size: 100, warmup: 2 });
console.log('batch sqlite', b['accepted/s'], b['p99 ms']);
