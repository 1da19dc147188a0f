import { describe, expect, it } from 'vitest';
import { newId } from '../src/platform/ids.js';

describe('newId', () => {
  it('makes RFC 9562 version 7 UUIDs, unique and in creation order within a millisecond and across the random pool refills', () => {
    const ids = Array.from({ length: 50_000 }, newId);
    for (const id of [ids[0]!, ids[25_000]!, ids.at(-1)!])
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    // The timestamp is the clock's (first 48 bits, ms since the epoch).
    const ms = Number.parseInt(ids.at(-1)!.replace(/-/g, '').slice(0, 12), 16);
    expect(Math.abs(ms - Date.now())).toBeLessThan(5000);
  });
});
