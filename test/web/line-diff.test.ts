import { describe, expect, it } from 'vitest';
import { diffStats, lineDiff, withContext } from '../../web/src/lib/line-diff.js';

describe('version diff', () => {
  it('numbers old and new lines like a unified diff', () => {
    const rows = lineDiff('a\nb\nc\n', 'a\nB\nc\nd\n');
    expect(rows).toEqual([
      { kind: 'same', oldLine: 1, newLine: 1, text: 'a' },
      { kind: 'del', oldLine: 2, newLine: null, text: 'b' },
      { kind: 'add', oldLine: null, newLine: 2, text: 'B' },
      { kind: 'same', oldLine: 3, newLine: 3, text: 'c' },
      { kind: 'add', oldLine: null, newLine: 4, text: 'd' },
    ]);
    expect(diffStats(rows)).toEqual({ added: 2, removed: 1 });
  });

  it('shows no change for identical texts, with or without a final newline difference in content', () => {
    expect(diffStats(lineDiff('x\ny', 'x\ny'))).toEqual({ added: 0, removed: 0 });
  });

  it('folds long unchanged runs around the changes into gaps', () => {
    const old = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n');
    const next = old.replace('line 10', 'line ten');
    const out = withContext(lineDiff(old, next), 2);
    expect(out[0]).toEqual({ kind: 'gap', hidden: 7 });
    expect(out.filter((r) => r.kind !== 'gap')).toHaveLength(6);
    expect(out[out.length - 1]).toEqual({ kind: 'gap', hidden: 8 });
  });
});
