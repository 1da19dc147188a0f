import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

/**
 * Random bytes for ids, drawn 4 KB at a time: uuid's own source asks Web Crypto for 16 bytes
 * per id, a cost that showed in the send path's CPU profile (docs/benchmarks.md).
 */
const pool = new Uint8Array(4096);
let used = pool.length;
function random16(): Uint8Array {
  if (used + 16 > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += 16;
  return pool.subarray(used - 16, used);
}

/** 16 random hex characters (64 bits) from the same pool: MIME boundaries and the like. */
export function randomHex(): string {
  return Buffer.from(random16().subarray(0, 8)).toString('hex');
}

// uuid keeps ids monotonic only when it draws its own bytes; with ours, the millisecond and the
// counter within it are kept here, as uuid does (RFC 9562 §6.2, method 1: a counter seeded at
// random each millisecond; if it wraps, the next millisecond is borrowed).
let msecs = -Infinity;
let seq = 0;

/** Time-ordered UUIDs (v7): index-friendly, and ordering by id is ordering by creation. */
export function newId(): string {
  const random = random16();
  const now = Date.now();
  if (now > msecs) {
    msecs = now;
    seq = ((random[6]! << 23) | (random[7]! << 16) | (random[8]! << 8) | random[9]!) & 0x7fffffff;
  } else {
    seq = (seq + 1) | 0;
    if (seq === 0) msecs++;
  }
  return v7({ random, msecs, seq });
}
