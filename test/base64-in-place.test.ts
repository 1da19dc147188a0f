import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64InPlace, isCanonicalBase64 } from '../src/platform/base64.js';

/** The definition: base64 text that Node decodes to bytes which encode back to exactly it. */
const canonical = (s: string) =>
  s.length > 0 &&
  s.length % 4 === 0 &&
  /^[A-Za-z0-9+/]*={0,2}$/.test(s) &&
  Buffer.from(s, 'base64').toString('base64') === s;

/** `s` inside a larger buffer (the way a JSON body holds it), so offsets matter. */
const embedded = (s: string) => {
  const buf = Buffer.from(`{"x":"${s}"}`, 'latin1');
  return { buf, start: 6, end: 6 + s.length };
};

describe('base64 checked and decoded in place', () => {
  it('accepts exactly the canonical base64 texts (alphabet, length, padding, unused bits)', async () => {
    const chars = fc.constantFrom(
      ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-. \n'.split(''),
    );
    const texts = fc.oneof(
      fc.string({ unit: chars, maxLength: 40 }),
      fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b).toString('base64')),
    );
    await fc.assert(
      fc.asyncProperty(texts, async (s) => {
        const { buf, start, end } = embedded(s);
        expect(await isCanonicalBase64(buf, start, end)).toBe(canonical(s));
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses stray bits in the last character and misplaced padding', async () => {
    for (const s of ['QR==', 'QUJ=', 'QUJD', 'Q===', '=QUJ', 'QU=J', 'QUJDRA==', 'QUJDRB==']) {
      const { buf, start, end } = embedded(s);
      expect(await isCanonicalBase64(buf, start, end), s).toBe(canonical(s));
    }
  });

  it('decodes to the bytes Buffer.from decodes, and hashes them, across piece boundaries', async () => {
    await fc.assert(
      // Lengths up to 3 pieces of 64 KiB characters (fast-check's own arrays stay short).
      fc.asyncProperty(fc.integer({ min: 1, max: 150_000 }), fc.integer(), async (n, seed) => {
        const data = Buffer.alloc(n);
        for (let i = 0, x = seed | 1; i < n; i++) data[i] = (x = (x * 1103515245 + 12345) | 0) >>> 24;
        const text = data.toString('base64');
        const { buf, start, end } = embedded(text);
        expect(await isCanonicalBase64(buf, start, end)).toBe(true);
        const d = await decodeBase64InPlace(buf, start, end);
        expect(Buffer.compare(d.bytes, data)).toBe(0);
        expect(d.sha256).toBe(createHash('sha256').update(data).digest('hex'));
        expect(d.length).toBe(text.length);
        // Only the text's own bytes were written: the rest of the body is intact.
        expect(buf.subarray(0, start).toString('latin1')).toBe('{"x":"');
        expect(buf.subarray(end).toString('latin1')).toBe('"}');
      }),
      { numRuns: 40 },
    );
  });

  it('handles a 3 MB text (many pieces, many turns)', async () => {
    const data = createHash('sha512').update('seed').digest();
    const big = Buffer.concat(Array.from({ length: 36_000 }, (_, i) => Buffer.concat([data, Buffer.from([i & 255])])));
    const { buf, start, end } = embedded(big.toString('base64'));
    expect(await isCanonicalBase64(buf, start, end)).toBe(true);
    expect(Buffer.compare((await decodeBase64InPlace(buf, start, end)).bytes, big)).toBe(0);
  });
});
