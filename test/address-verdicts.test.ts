import { describe, expect, it } from 'vitest';
import { isValidAddress } from '../src/accept/index.js';

/** isValidAddress keeps its last verdicts (accept/addresses.ts): the same answers, first time or not. */
describe('address verdicts', () => {
  const cases: Array<[unknown, boolean]> = [
    ['client@example.org', true],
    ['Client.Name+tag@Sub.Example.ORG', true],
    ['billing@rgz.bj', true],
    ['no-at-sign.example.org', false],
    ['client@localhost', false],
    ['client@[127.0.0.1]', false],
    ['=?utf-8?Q?=0D=0A?=@example.org', false],
    ['client\u200b@example.org', false],
    ['"Name" <client@example.org>', false],
    [`${'a'.repeat(250)}@b.co`, false],
    ['\ud800@example.org', false],
    [42, false],
    [null, false],
  ];

  it('answers the same the first time, from its memory, and after its memory was emptied', () => {
    const answers = () => cases.map(([a]) => isValidAddress(a));
    const expected = cases.map(([, v]) => v);
    expect(answers()).toEqual(expected);
    expect(answers()).toEqual(expected);
    // More distinct addresses than it keeps: it empties itself and judges again.
    for (let i = 0; i < 5000; i++) expect(isValidAddress(`user${i}@example.org`)).toBe(true);
    expect(answers()).toEqual(expected);
    // A verdict remembered for one spelling is not given to another.
    expect(isValidAddress('client@example.org.')).toBe(false);
    expect(isValidAddress('client@example.org')).toBe(true);
  });
});
