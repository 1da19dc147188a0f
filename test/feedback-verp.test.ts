import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeVerpAddress, encodeVerpAddress } from '../src/feedback/index.js';

const secret = 'verp-secret-for-tests-0123456789';
const domain = 'rgz.bj';
const id = '0d6f1c2e-1111-4222-8333-444455556666';

describe('VERP return paths', () => {
  it('names the message in a signed, lowercase token that fits a local part', () => {
    const address = encodeVerpAddress(id, secret, domain);
    expect(address).toMatch(/^bounces\+[a-z2-7]{42}@rgz\.bj$/);
    expect(address.split('@')[0]!.length).toBeLessThanOrEqual(64);
    expect(decodeVerpAddress(address, secret, domain)).toBe(id);
  });

  it('survives receivers that change case or wrap the address in brackets and a name', () => {
    const address = encodeVerpAddress(id, secret, domain);
    expect(decodeVerpAddress(address.toUpperCase(), secret, 'RGZ.BJ')).toBe(id);
    expect(decodeVerpAddress(`"Bounces" <${address}>`, secret, domain)).toBe(id);
    expect(decodeVerpAddress(encodeVerpAddress(id.toUpperCase(), secret, domain), secret, domain)).toBe(id);
  });

  it('gives null for a forged, altered, truncated or foreign token', () => {
    const address = encodeVerpAddress(id, secret, domain);
    const [local, host] = address.split('@') as [string, string];
    expect(decodeVerpAddress(address, 'another-secret', domain)).toBeNull();
    expect(decodeVerpAddress(encodeVerpAddress(randomUUID(), 'attacker-secret', domain), secret, domain)).toBeNull();
    expect(decodeVerpAddress(`${local.slice(0, -1)}@${host}`, secret, domain)).toBeNull();
    expect(decodeVerpAddress(`${local}a@${host}`, secret, domain)).toBeNull();
    expect(decodeVerpAddress(`${local.replace('bounces+', 'bounces-')}@${host}`, secret, domain)).toBeNull();
    expect(decodeVerpAddress(`${local.replace(/.$/, '1')}@${host}`, secret, domain)).toBeNull();
    expect(decodeVerpAddress(address, secret, 'techconnect.bj')).toBeNull();
    expect(decodeVerpAddress(encodeVerpAddress(id, secret, 'techconnect.bj'), secret, domain)).toBeNull();
    for (const junk of [
      '',
      'bounces@rgz.bj',
      'not an address',
      'bounces+@rgz.bj',
      `bounces+${'a'.repeat(42)}@rgz.bj`,
    ]) {
      expect(decodeVerpAddress(junk, secret, domain)).toBeNull();
    }
  });

  it('rejects any single-character change of a token (fuzzed)', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.nat(41), fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz234567'), (uuid, pos, ch) => {
        const address = encodeVerpAddress(uuid, secret, domain);
        const at = 'bounces+'.length + pos;
        const changed = address.slice(0, at) + ch + address.slice(at + 1);
        expect(decodeVerpAddress(changed, secret, domain)).toBe(changed === address ? uuid.toLowerCase() : null);
      }),
      { numRuns: 300 },
    );
  });

  it('verifies with any of several secrets while one is being retired', () => {
    const old = encodeVerpAddress(id, 'old-secret', domain);
    expect(decodeVerpAddress(old, [secret, 'old-secret'], domain)).toBe(id);
    expect(decodeVerpAddress(old, [secret], domain)).toBeNull();
  });

  it('takes another prefix and the qmail separator', () => {
    const address = encodeVerpAddress(id, secret, domain, { prefix: 'rebonds', separator: '-' });
    expect(address.startsWith('rebonds-')).toBe(true);
    expect(decodeVerpAddress(address, secret, domain, { prefix: 'rebonds', separator: '-' })).toBe(id);
    expect(decodeVerpAddress(address, secret, domain)).toBeNull();
  });

  it('refuses to encode what is not a UUID, or with an empty secret', () => {
    expect(() => encodeVerpAddress('message-42', secret, domain)).toThrow(TypeError);
    expect(() => encodeVerpAddress(id, '', domain)).toThrow(TypeError);
  });
});
