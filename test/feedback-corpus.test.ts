import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyReport, type Classification } from '../src/feedback/index.js';
import { allCases } from './fixtures/feedback/gen/all.js';

const dir = path.join(import.meta.dirname, 'fixtures', 'feedback');
interface Expected {
  group: 'dsn' | 'plain' | 'arf' | 'auto_reply' | 'other';
  kind: Classification['kind'];
  category: string | null;
  recipient: string | null;
  messageId: string | null;
  envelopeFrom?: string;
}
const manifest = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Record<string, Expected>;
const files = Object.keys(manifest);
const classify = (file: string) => {
  const e = manifest[file]!;
  return classifyReport(
    readFileSync(path.join(dir, 'reports', file)),
    e.envelopeFrom !== undefined ? { envelopeFrom: e.envelopeFrom } : {},
  );
};
const isBounce = (k: string) => k === 'hard_bounce' || k === 'soft_bounce';

describe('feedback corpus', () => {
  it('holds at least 150 reports in the proportions the brief asks for', () => {
    const byGroup = (g: Expected['group']) => files.filter((f) => manifest[f]!.group === g).length;
    expect(files.length).toBeGreaterThanOrEqual(150);
    expect(byGroup('auto_reply')).toBeGreaterThanOrEqual(20);
    expect(byGroup('other')).toBeGreaterThanOrEqual(15);
    expect(byGroup('arf')).toBeGreaterThanOrEqual(8);
    expect(byGroup('dsn') + byGroup('plain')).toBeGreaterThanOrEqual(100);
    expect(readdirSync(path.join(dir, 'reports')).sort()).toEqual([...files].sort());
  });

  it('is exactly what the generator writes (no hand edit drifts from the expectations)', () => {
    const cases = allCases();
    expect(cases.map((c) => `${c.name}.eml`)).toEqual(files);
    for (const c of cases) {
      expect(readFileSync(path.join(dir, 'reports', `${c.name}.eml`), 'utf8'), c.name).toBe(c.eml);
      expect(manifest[`${c.name}.eml`]).toMatchObject({
        kind: c.expect.kind,
        category: c.expect.category,
        recipient: c.expect.recipient,
      });
    }
  });

  it.each(files)('%s: kind, category, recipient and Message-ID as expected', (file) => {
    const e = manifest[file]!;
    const c = classify(file);
    expect({ kind: c.kind, category: c.category, recipient: c.recipient }).toEqual({
      kind: e.kind,
      category: e.category,
      recipient: e.recipient,
    });
    if (e.messageId) expect(c.original.messageId).toBe(e.messageId);
    // Every decision explains itself.
    expect(c.reason).toMatch(/^[a-z0-9_]+$/);
  });

  it('never counts an auto-reply or an ordinary message as a bounce, and prints the figures', () => {
    const results = files.map((f) => ({ e: manifest[f]!, c: classify(f) }));
    const pct = (n: number, d: number) => `${((100 * n) / d).toFixed(1)}% (${n}/${d})`;
    const kindOk = results.filter(({ e, c }) => c.kind === e.kind).length;
    const withRecipient = results.filter(({ e }) => e.recipient !== null);
    const recipientOk = withRecipient.filter(({ e, c }) => c.recipient === e.recipient).length;
    const bounces = results.filter(({ e }) => isBounce(e.kind));
    const categoryOk = bounces.filter(({ e, c }) => c.category === e.category).length;
    const withId = results.filter(({ e }) => e.messageId);
    const idOk = withId.filter(({ e, c }) => c.original.messageId === e.messageId).length;
    const notBounces = results.filter(({ e }) => e.group === 'auto_reply' || e.group === 'other');
    const falseBounces = notBounces.filter(({ c }) => isBounce(c.kind));
    console.log(
      [
        `feedback corpus: ${results.length} reports`,
        `  kind correct:        ${pct(kindOk, results.length)}`,
        `  recipient correct:   ${pct(recipientOk, withRecipient.length)}`,
        `  category correct:    ${pct(categoryOk, bounces.length)} of bounces`,
        `  Message-ID found:    ${pct(idOk, withId.length)}`,
        `  false bounces among auto-replies and ordinary mail: ${falseBounces.length} of ${notBounces.length}`,
      ].join('\n'),
    );
    expect(falseBounces.map(({ c }) => c.report.subject)).toEqual([]);
    expect(kindOk).toBe(results.length);
  });
});
