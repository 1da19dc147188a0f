import { describe, expect, it } from 'vitest';
import { createSignedToken, readSignedToken } from '../src/platform/crypto/signed-token.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const key = Buffer.alloc(32, 7);

describe('signed tokens', () => {
  it('read back the claim of a token they made, with and without a context', () => {
    const claim = { m: 'msg_1', e: 'client@example.org' };
    expect(readSignedToken(key, createSignedToken(key, claim), 1000)).toEqual(claim);
    expect(readSignedToken(key, createSignedToken(key, claim, 'unsubscribe'), 1000, 'unsubscribe')).toEqual(claim);
    expect(readSignedToken(key, createSignedToken(key, claim, 'unsubscribe'), 1000, 'click')).toBeNull();
    expect(readSignedToken(Buffer.alloc(32, 8), createSignedToken(key, claim), 1000)).toBeNull();
  });

  it('have one spelling: the 15 other last characters that decode to the same MAC are refused', () => {
    const token = createSignedToken(key, { m: 'msg_1' });
    const last = token.at(-1)!;
    const index = ALPHABET.indexOf(last);
    // 16 bytes in 22 characters: the last one carries 2 bits of the MAC and 4 that decoding drops.
    expect(index & 0b1111).toBe(0);
    const others = [...ALPHABET].filter((c, i) => c !== last && i >> 4 === index >> 4);
    expect(others).toHaveLength(15);
    for (const c of others) {
      const variant = `${token.slice(0, -1)}${c}`;
      expect(Buffer.from(variant.split('.')[1]!, 'base64url')).toEqual(Buffer.from(token.split('.')[1]!, 'base64url'));
      expect(readSignedToken(key, variant, 1000)).toBeNull();
    }
    expect(readSignedToken(key, token, 1000)).toEqual({ m: 'msg_1' });
  });
});
