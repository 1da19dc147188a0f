import { measureBatch } from './lib/accept.js';
console.log(JSON.stringify(await measureBatch({ env: {}, seconds: 5, connections: 8, size: 100, distinct: true })));
