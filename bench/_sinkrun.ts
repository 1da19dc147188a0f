import { FastSink } from './sink.js';
const s = await new FastSink().start();
console.log('PORT', s.port);
let last = 0;
setInterval(() => { if (s.count !== last) console.log(new Date().toISOString().slice(17, 23), 'delivered', s.count, '+', s.count - last); last = s.count; }, 1000);
