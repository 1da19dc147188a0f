#!/usr/bin/env node
// Checks that every relative link in README.md and docs/*.md (or the Markdown files given as
// arguments) points at a file or folder that exists, and that every #anchor names a heading of
// the page it points to, as GitHub renders heading ids. External links (http:, https:, mailto:)
// are not fetched. Exits 1 and lists what is broken.
//
//   node scripts/check-doc-links.mjs [file.md …]

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function defaultFiles() {
  const docs = path.join(root, 'docs');
  const pages = existsSync(docs)
    ? readdirSync(docs)
        .filter((f) => f.endsWith('.md'))
        .map((f) => path.join(docs, f))
    : [];
  return [path.join(root, 'README.md'), ...pages.sort()];
}

/** The text outside fenced code blocks, line by line (a link inside code is not a link). */
function proseLines(markdown) {
  const out = [];
  let fence = null;
  for (const [i, line] of markdown.split('\n').entries()) {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m) {
      if (fence === null) fence = m[1][0];
      else if (m[1][0] === fence) fence = null;
      continue;
    }
    if (fence === null) out.push({ number: i + 1, text: line.replace(/(`+)[\s\S]*?\1/g, '') });
  }
  return out;
}

/** A heading's id as GitHub makes it: its text, lowercased, punctuation dropped, spaces as hyphens. */
function slug(heading) {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '').replace(/ /g, '-');
}

const anchorCache = new Map();
/** Every id a Markdown file's headings get, duplicates numbered (-1, -2…) as GitHub does. */
function anchorsOf(file) {
  if (anchorCache.has(file)) return anchorCache.get(file);
  const seen = new Map();
  const ids = new Set();
  let fence = null;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const f = /^\s*(`{3,}|~{3,})/.exec(line);
    if (f) {
      if (fence === null) fence = f[1][0];
      else if (f[1][0] === fence) fence = null;
      continue;
    }
    if (fence !== null) continue;
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = slug(h[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    ids.add(n === 0 ? base : `${base}-${n}`);
  }
  anchorCache.set(file, ids);
  return ids;
}

function check(file) {
  const problems = [];
  const where = (line) => `${path.relative(root, file)}:${line}`;
  for (const { number, text } of proseLines(readFileSync(file, 'utf8'))) {
    for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1].replace(/^<|>$/g, '');
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      const hash = target.indexOf('#');
      const filePart = hash === -1 ? target : target.slice(0, hash);
      const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
      const resolved = filePart === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(filePart));
      if (!existsSync(resolved)) {
        problems.push(`${where(number)}: ${target}: no such file`);
        continue;
      }
      if (anchor === null) continue;
      if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) {
        problems.push(`${where(number)}: ${target}: an anchor into something that is not a Markdown page`);
        continue;
      }
      if (!anchorsOf(resolved).has(anchor))
        problems.push(`${where(number)}: ${target}: no heading with id "${anchor}"`);
    }
  }
  return problems;
}

const files = process.argv.length > 2 ? process.argv.slice(2).map((f) => path.resolve(f)) : defaultFiles();
const problems = files.flatMap(check);
if (problems.length > 0) {
  console.error(`Broken documentation links (${problems.length}):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`Documentation links: ${files.length} files checked, every relative link and anchor resolves.`);
