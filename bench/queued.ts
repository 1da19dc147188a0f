/**
 * tsx bench/queued.ts N — run by bench/all.ts in a process of its own, so its peak RSS is
 * Postier's (API + services + worker + the sink) and not the other benchmarks'. Prints JSON.
 */
import { queuedThenDrained } from './lib/deliver.js';

console.log(JSON.stringify(await queuedThenDrained(Number(process.argv[2] ?? 100000))));
process.exit(0);
