import { measureBatch } from './lib/accept.js';
for (const distinct of [false, true, false, true]) console.log(distinct ? 'distinct' : 'same    ', JSON.stringify(await measureBatch({ env: {}, seconds: 5, connections: 8, size: 100, distinct })));
