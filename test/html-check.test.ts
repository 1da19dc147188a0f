import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CssVisitor, scanDeclarations, scanStyleSheet } from '../src/checks/css-scan.js';
import { declarationSlugs, selectorSlugs } from '../src/checks/features.js';
import { checkHtml, type FeatureReport, featureCounts } from '../src/checks/html-check.js';

/** The committed data, read here on its own: the check's numbers are held to it, not to themselves. */
const DATA = JSON.parse(readFileSync('src/checks/caniemail.json', 'utf8')) as {
  license: string;
  last_update_date: string;
  clients: string[];
  features: Array<{ slug: string; support: string; notes: Record<string, string> }>;
};

/** A feature's latest support per client, straight from the file: `{ 'gmail.ios': 'n#2', … }`. */
function dataOf(slug: string): Record<string, string> {
  const f = DATA.features.find((x) => x.slug === slug);
  if (!f) throw new Error(`no ${slug} in the data`);
  const values = f.support.split(' ');
  return Object.fromEntries(DATA.clients.map((c, i) => [c, values[i]!]).filter(([, v]) => v !== '-'));
}

/** What the report should say of a feature, computed from the file. */
function expectedShares(slug: string) {
  const values = Object.values(dataOf(slug)).map((v) => v.split('#')[0]);
  const share = (s: string) => Math.round((values.filter((v) => v === s).length / values.length) * 1000) / 10;
  return { supported: share('y'), partial: share('a'), unsupported: share('n'), unknown: share('u') };
}

const byFamily = (f: FeatureReport) =>
  Object.fromEntries(f.clients.map((c) => [c.family, Object.fromEntries(c.platforms.map((p) => [p.platform, p]))]));

const MODERN = `<!DOCTYPE html><html><head><style>
  .cards { display: flex; gap: 12px }
  .badge { position: absolute; top: 0; right: 0 }
</style></head><body>
  <div class="cards"><svg width="24" height="24"><circle cx="12" cy="12" r="10"/></svg>
  <video src="https://cdn.example.com/demo.mp4" controls></video>
  <span style="position: relative; display: flex">New</span></div>
</body></html>`;

const TABLES = `<html><head><meta charset="utf-8"></head><body style="margin:0;padding:0;background-color:#f4f4f4">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#f4f4f4">
<tr><td align="center" style="padding:24px 0">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="background-color:#ffffff;border:1px solid #dddddd">
<tr><td style="padding:24px;font-family:Arial,sans-serif;font-size:16px;line-height:24px;color:#333333">
<p style="margin:0 0 16px 0">Hello Aminata,</p><p style="margin:0 0 16px 0">Your invoice <strong>INV-2024-001</strong> is ready.</p>
<table role="presentation" cellpadding="0" cellspacing="0"><tr><td style="background-color:#0055aa;padding:12px 24px">
<a href="https://billing.example.com/invoices/1" style="color:#ffffff;font-weight:bold">View the invoice</a></td></tr></table>
<img src="https://cdn.example.com/logo.png" width="120" height="40" alt="Logo" style="border:0">
</td></tr></table></td></tr></table></body></html>`;

describe('the HTML check against caniemail data', () => {
  it('finds svg, video, flex and position, with the support the data gives each', async () => {
    const check = await checkHtml(MODERN);
    const found = Object.fromEntries(check.features.map((f) => [f.slug, f]));
    for (const slug of ['html-svg', 'html-video', 'css-display-flex', 'css-position']) {
      expect(found[slug], slug).toBeDefined();
      expect(found[slug], slug).toMatchObject(expectedShares(slug));
    }
    expect(found['css-display-flex']!.count).toBe(2);
    expect(found['css-position']!.count).toBe(2);
    expect(found['css-gap']!.count).toBe(1);
    expect(found['css-left-right-top-bottom']!.count).toBe(2);

    // The clients listed are exactly those the data says lack it (n) or have it in part (a), with their notes.
    const svg = found['html-svg']!;
    const lacking = Object.entries(dataOf('html-svg')).filter(([, v]) => /^[na]/.test(v));
    expect(svg.clients.flatMap((c) => c.platforms.map((p) => `${c.family}.${p.platform}`)).sort()).toEqual(
      lacking.map(([c]) => c).sort(),
    );
    // Facts of long standing in that data: Gmail renders no inline SVG, Outlook for Windows no flexbox.
    expect(byFamily(svg).gmail?.['desktop-webmail']?.support).toBe('unsupported');
    expect(svg.clients[0]!.family_name).toBe('Gmail');
    expect(byFamily(found['css-display-flex']!).outlook?.windows?.support).toBe('unsupported');
    const video = byFamily(found['html-video']!).gmail?.['desktop-webmail'];
    const note = dataOf('html-video')['gmail.desktop-webmail']!.split('#')[1];
    expect(video?.notes).toEqual([DATA.features.find((f) => f.slug === 'html-video')!.notes[note!]]);

    // Worst first, and the data's origin and licence travel with the answer.
    expect(check.features[0]!.unsupported).toBe(Math.max(...check.features.map((f) => f.unsupported)));
    expect(check.data).toMatchObject({
      license: 'MIT',
      last_update: DATA.last_update_date,
      clients: DATA.clients.length,
    });
    expect(check.data.source).toContain('caniemail.com');
  });

  it('scores an email of tables and inline basic CSS high, and one built on svg, video and flexbox lower', async () => {
    const tables = await checkHtml(TABLES);
    const modern = await checkHtml(MODERN);
    expect(tables.score!.supported).toBeGreaterThanOrEqual(85);
    expect(modern.score!.supported).toBeLessThan(tables.score!.supported - 10);
    for (const s of [tables.score!, modern.score!]) expect(s.supported + s.partial + s.unsupported).toBeCloseTo(100, 0);
    const slugs = tables.features.map((f) => f.slug);
    expect(slugs).toEqual(expect.arrayContaining(['html-table', 'html-cellpadding', 'css-padding', 'css-unit-px']));
    expect(slugs).not.toContain('html-svg');
    expect(slugs).not.toContain('css-display-flex');
  });

  it('answers without HTML with no features and no score', async () => {
    expect(await checkHtml(null)).toMatchObject({ score: null, features: [] });
    expect(await checkHtml('')).toMatchObject({ score: null, features: [] });
  });

  it('does not crash on malformed HTML or CSS, and reports only features the data has', async () => {
    const broken = [
      '<table><tr><td>unclosed <b><i></table></div></span>',
      '<style>.a { color: red; .b { margin: 0 } @media (max-width: 600px { .c { width: 100% }',
      '<style>/* never closed',
      '<div style="color: "unterminated; width: url(a;b">x</div>',
      `<style>${'{'.repeat(5000)}</style>${'<a '.repeat(2000)}`,
      '<svg><style>circle { fill: red }</style><circle/></svg><<<>>>&&&;;;',
      `<style>:not(${':not('.repeat(200)}.a${')'.repeat(200)}) { top: 0 }</style>`,
      '\u0000<p\u0000 style="\u0000">',
    ];
    const known = new Set(DATA.features.map((f) => f.slug));
    for (const html of broken) {
      const check = await checkHtml(html);
      for (const f of check.features) expect(known.has(f.slug)).toBe(true);
    }
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc
            .constantFrom('<', '>', '/', '"', "'", '=', '{', '}', ';', ':', '(', ')', '@media', '<style>', '</style>')
            .chain((t) => fc.oneof(fc.constant(t), fc.string({ maxLength: 6 }))),
          { maxLength: 60 },
        ),
        async (parts) => {
          const check = await checkHtml(`<p style="${parts.join('')}">${parts.join('')}</p>`);
          if (check.score) expect(check.score.supported).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reads <style> and style="" with their at-rules, selectors, values and units, not what url() or strings hold', () => {
    const counts = featureCounts(`<style>
      /* a comment */
      @import url("https://fonts.example.com/a.css");
      @media (prefers-color-scheme: dark) and (max-width: 600px) { .a > p, div.b:hover { color: rgba(0,0,0,.5) !important } }
      @keyframes spin { from { transform: rotate(0deg) } to { transform: rotate(360deg) } }
      .c { background: url(data:image/png;base64,AAA=) no-repeat; width: calc(100% - 10px); &.d { margin-top: 1em } }
    </style><p style="font-family: 'A 12px font', system-ui; padding: 0 5% ; --x: 1px">x</p>`);
    expect(Object.fromEntries(counts)).toMatchObject({
      'css-comments': 1,
      'css-at-import': 1,
      'css-at-media': 1,
      'css-at-media-prefers-color-scheme': 1,
      'css-at-keyframes': 1,
      'css-selector-grouping': 1,
      'css-selector-child': 1,
      'css-selector-chaining': 2,
      'css-pseudo-class-hover': 1,
      'css-important': 1,
      'css-rgba': 1,
      'css-transform': 2,
      'css-background': 1,
      'css-unit-calc': 1,
      'css-unit-percent': 2,
      'css-unit-px': 1,
      'css-unit-em': 1,
      'css-nesting': 1,
      'css-margin': 1,
      'css-sytem-ui': 1,
      'css-variables': 1,
    });
    // Keyframe selectors (from, to) are not type selectors; only p and div are.
    expect(counts.get('css-selector-type')).toBe(2);
  });

  it('names selectors and declarations as caniemail does', () => {
    expect(selectorSlugs('ul > li + li ~ *, a[href^="x,y"]:not(.k)::before')).toEqual([
      'css-selector-grouping',
      'css-selector-type',
      'css-selector-child',
      'css-selector-type',
      'css-selector-adjacent-sibling',
      'css-selector-type',
      'css-selector-general-sibling',
      'css-selector-universal',
      'css-selector-type',
      'css-selector-attribute',
      'css-pseudo-class-not',
      'css-selector-class',
      'css-pseudo-element-before',
      'css-selector-chaining',
    ]);
    expect(selectorSlugs('#main .x')).toEqual(['css-selector-id', 'css-selector-descendant', 'css-selector-class']);
    expect(declarationSlugs('border-top-left-radius', '4px', false)).toEqual(['css-border-radius', 'css-unit-px']);
    expect(declarationSlugs('-webkit-box-shadow', '0 0 2px #000', false)).toEqual(['css-box-shadow', 'css-unit-px']);
    expect(declarationSlugs('padding-inline-start', '2ch', false)).toEqual([
      'css-padding-inline-start-end',
      'css-unit-ch',
    ]);
    expect(declarationSlugs('display', 'inline-flex', false)).toEqual(['css-display', 'css-display-flex']);
    expect(declarationSlugs('flex-direction', 'row', false)).toEqual([]);
    expect(declarationSlugs('flex-direction', 'column', false)).toEqual(['css-flex-direction']);
    expect(declarationSlugs('background-image', "url('a_10px.png'), linear-gradient(#fff, #000)", false)).toEqual([
      'css-background-image',
      'css-linear-gradient',
    ]);
  });

  it('never throws from the CSS reader, whatever the text', () => {
    const seen: string[] = [];
    const v: CssVisitor = {
      atRule: (n) => seen.push(`@${n}`),
      selector: (s) => seen.push(s),
      declaration: (p) => seen.push(p),
      comment: () => seen.push('/**/'),
      nested: () => seen.push('&'),
    };
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (css) => {
        scanStyleSheet(css, v);
        scanDeclarations(css, v);
      }),
      { numRuns: 500 },
    );
    expect(seen.length).toBeGreaterThan(0);
  });
});
