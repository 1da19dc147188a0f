// Refreshes src/checks/caniemail.json, the email client support data the HTML check reads, from
// caniemail.com's data (MIT). Dev-only: the server never depends on the caniemail package.
//
//   npm pack caniemail                                  # caniemail-x.y.z.tgz (its data/caniemail.json)
//   npx tsx scripts/update-caniemail.ts caniemail-x.y.z.tgz
//   npx tsx scripts/update-caniemail.ts path/to/data.json   # or https://www.caniemail.com/api/data.json, saved
//   ... --out FILE                                      # write elsewhere (tests)
//
// Only what the check needs is kept: per feature its slug, title, url and category, and per client
// (family and platform) the support of its latest tested version with that value's notes.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A JSON value whose objects keep their keys' order: caniemail lists versions oldest first, and keys like "13" would jump ahead in a plain object. */
type Ordered = string | number | boolean | null | Ordered[] | Map<string, Ordered>;

export function parseOrdered(text: string): Ordered {
  let i = 0;
  const ws = () => {
    while (/\s/.test(text[i] ?? '')) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`caniemail data: ${what} at offset ${i}`);
  };
  const value = (): Ordered => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const map = new Map<string, Ordered>();
      ws();
      if (text[i] === '}') return (i++, map);
      for (;;) {
        ws();
        const key = value();
        if (typeof key !== 'string') fail('an object key that is not a string');
        ws();
        if (text[i++] !== ':') fail('a missing colon');
        map.set(key as string, value());
        ws();
        const next = text[i++];
        if (next === '}') return map;
        if (next !== ',') fail('a missing comma in an object');
      }
    }
    if (c === '[') {
      i++;
      const list: Ordered[] = [];
      ws();
      if (text[i] === ']') return (i++, list);
      for (;;) {
        list.push(value());
        ws();
        const next = text[i++];
        if (next === ']') return list;
        if (next !== ',') fail('a missing comma in an array');
      }
    }
    // Strings, numbers and literals: JSON.parse reads each token exactly.
    const token = /^(?:"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(
      text.slice(i, i + 100_000),
    );
    if (!token) return fail('an unexpected character');
    i += token[0].length;
    return JSON.parse(token[0]) as Ordered;
  };
  const result = value();
  ws();
  if (i !== text.length) fail('text after the data');
  return result;
}

const obj = (v: Ordered | undefined): Map<string, Ordered> => (v instanceof Map ? v : new Map());
const str = (v: Ordered | undefined): string => (typeof v === 'string' ? v : '');

/** The derived file: see src/checks/caniemail.ts for how it is read. */
export function derive(source: string, origin: string, license: { copyright: string[]; text: string }): string {
  const root = obj(parseOrdered(source));
  const nice = obj(root.get('nicenames'));
  const families = obj(nice.get('family'));
  const platforms = obj(nice.get('platform'));
  const features = root.get('data');
  if (!Array.isArray(features) || features.length === 0) throw new Error('caniemail data: no features');

  // Every client (family and platform) any feature was tested on, in a stable order.
  const clients: string[] = [];
  for (const f of features)
    for (const [family, byPlatform] of obj(obj(f).get('stats')))
      for (const platform of obj(byPlatform).keys())
        if (!clients.includes(`${family}.${platform}`)) clients.push(`${family}.${platform}`);
  clients.sort();

  const lines = features.map((f) => {
    const m = obj(f);
    const stats = obj(m.get('stats'));
    const notes = obj(m.get('notes_by_num'));
    const used = new Set<string>();
    const support = clients.map((client) => {
      const [family, platform] = client.split('.') as [string, string];
      const versions = [...obj(obj(stats.get(family)).get(platform)).values()];
      const latest = str(versions[versions.length - 1]).trim();
      if (!latest) return '-';
      const [value, ...refs] = latest.split(/\s+/);
      const numbers = refs.map((r) => r.replace(/^#/, '')).filter((r) => /^\d+$/.test(r));
      for (const n of numbers) used.add(n);
      if (!['y', 'a', 'n', 'u'].includes(value!))
        throw new Error(`caniemail data: support "${latest}" in ${str(m.get('slug'))}`);
      return [value, ...numbers].join('#');
    });
    const kept = Object.fromEntries([...used].sort((a, b) => Number(a) - Number(b)).map((n) => [n, str(notes.get(n))]));
    return JSON.stringify({
      slug: str(m.get('slug')),
      title: str(m.get('title')),
      url: str(m.get('url')),
      category: str(m.get('category')),
      support: support.join(' '),
      notes: kept,
    });
  });

  const head = {
    about:
      'Email client support of HTML and CSS features, derived from caniemail.com by scripts/update-caniemail.ts. ' +
      '`support` has one value per entry of `clients`: y (supported), a (partially), n (not supported), u (unknown) ' +
      'or - (not tested), of the latest version tested, with the numbers of its notes after #.',
    source: origin,
    license: 'MIT',
    copyright: license.copyright,
    license_text: license.text,
    api_version: str(root.get('api_version')),
    last_update_date: str(root.get('last_update_date')),
    families: Object.fromEntries([...families].map(([k, v]) => [k, str(v)])),
    platforms: Object.fromEntries([...platforms].map(([k, v]) => [k, str(v)])),
    clients,
  };
  const top = JSON.stringify(head, null, 2).replace(/\n}$/, '');
  return `${top},\n  "features": [\n    ${lines.join(',\n    ')}\n  ]\n}\n`;
}

/** caniemail.com's data is MIT (https://github.com/hteumeuleu/caniemail); the npm package that carries it adds its authors. */
const COPYRIGHT = ['Copyright (c) 2019 HTeuMeuLeu (caniemail.com, https://github.com/hteumeuleu/caniemail)'];
const MIT =
  'Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated ' +
  'documentation files (the "Software"), to deal in the Software without restriction, including without limitation ' +
  'the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to ' +
  'permit persons to whom the Software is furnished to do so, subject to the following conditions: The above copyright ' +
  'notice and this permission notice shall be included in all copies or substantial portions of the Software. ' +
  'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO ' +
  'THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE ' +
  'AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, ' +
  'TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.';

function main() {
  const args = process.argv.slice(2);
  const outAt = args.indexOf('--out');
  const out = outAt >= 0 ? args[outAt + 1] : fileURLToPath(new URL('../src/checks/caniemail.json', import.meta.url));
  const input = args.filter((_, i) => outAt < 0 || (i !== outAt && i !== outAt + 1))[0];
  if (!input || !out) {
    console.error('usage: npx tsx scripts/update-caniemail.ts <caniemail-x.y.z.tgz | data.json> [--out FILE]');
    process.exit(2);
  }
  let source: string;
  let origin = 'https://www.caniemail.com/api/data.json';
  const copyright = [...COPYRIGHT];
  if (/\.(tgz|tar\.gz)$/.test(input)) {
    const read = (path: string) =>
      execFileSync('tar', ['-xzOf', input, path], { maxBuffer: 64 * 1024 * 1024 }).toString('utf8');
    source = read('package/data/caniemail.json');
    const pkg = JSON.parse(read('package/package.json')) as { name: string; version: string };
    origin += `, as published in the npm package ${pkg.name} ${pkg.version} (data/caniemail.json)`;
    for (const line of read('package/LICENSE').match(/^Copyright.*$/gm) ?? [])
      copyright.push(`${line.trim()} (npm package ${pkg.name})`);
  } else {
    source = readFileSync(input, 'utf8');
  }
  writeFileSync(out, derive(source, origin, { copyright, text: MIT }));
  console.log(`wrote ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
