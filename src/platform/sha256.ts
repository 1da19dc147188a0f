import { createHash } from 'node:crypto';
import { setImmediate as yieldTurn } from 'node:timers/promises';

/** Bytes hashed per event-loop turn: about a millisecond of SHA-256. */
const SLICE = 1024 * 1024;

/**
 * SHA-256 (hex) of `data`, hashed a slice per event-loop turn: a 10 MB attachment would block
 * the loop for 20 to 40 ms in one go. crypto.subtle.digest runs on the thread pool but copies
 * its input first, which a large request cannot afford (its memory is bounded to 3× its body).
 */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const hash = createHash('sha256');
  for (let at = 0; at < data.length; at += SLICE) {
    if (at > 0) await yieldTurn();
    hash.update(data.subarray(at, at + SLICE));
  }
  return hash.digest('hex');
}
