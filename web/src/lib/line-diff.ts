import { diffLines } from 'diff';

export interface DiffRow {
  kind: 'same' | 'add' | 'del';
  /** Line number in the old text (same, del) and in the new text (same, add). */
  oldLine: number | null;
  newLine: number | null;
  text: string;
}

/** A line-by-line diff of two texts, numbered like a unified diff, for rendering as rows. */
export function lineDiff(oldText: string, newText: string): DiffRow[] {
  const rows: DiffRow[] = [];
  let o = 1;
  let n = 1;
  for (const part of diffLines(oldText, newText)) {
    const lines = part.value.replace(/\n$/, '').split('\n');
    for (const text of lines) {
      if (part.added) rows.push({ kind: 'add', oldLine: null, newLine: n++, text });
      else if (part.removed) rows.push({ kind: 'del', oldLine: o++, newLine: null, text });
      else rows.push({ kind: 'same', oldLine: o++, newLine: n++, text });
    }
  }
  return rows;
}

/** Keeps changed rows and `context` unchanged rows around them; long unchanged runs become one gap. */
export function withContext(rows: DiffRow[], context = 3): (DiffRow | { kind: 'gap'; hidden: number })[] {
  const keep = rows.map(() => false);
  rows.forEach((r, i) => {
    if (r.kind === 'same') return;
    for (let j = Math.max(0, i - context); j <= Math.min(rows.length - 1, i + context); j++) keep[j] = true;
  });
  const out: (DiffRow | { kind: 'gap'; hidden: number })[] = [];
  let hidden = 0;
  rows.forEach((r, i) => {
    if (keep[i]) {
      if (hidden) out.push({ kind: 'gap', hidden });
      hidden = 0;
      out.push(r);
    } else hidden++;
  });
  if (hidden) out.push({ kind: 'gap', hidden });
  return out;
}

export const diffStats = (rows: DiffRow[]) => ({
  added: rows.filter((r) => r.kind === 'add').length,
  removed: rows.filter((r) => r.kind === 'del').length,
});
