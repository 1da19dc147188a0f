import { Parser } from 'htmlparser2';
import { type Feature, type SupportData, supportData } from './caniemail.js';
import type { CheckResult } from './count.js';
import { scanDeclarations, scanStyleSheet, type CssVisitor } from './css-scan.js';
import { atRuleSlugs, declarationSlugs, elementSlugs, selectorSlugs } from './features.js';

/** A client of one family that does not render a feature, or only in part. */
export interface ClientProblem {
  platform: string;
  platform_name: string;
  support: 'unsupported' | 'partial';
  notes: string[];
}

export interface FeatureReport {
  slug: string;
  title: string;
  url: string;
  category: string;
  /** How many times the email uses it. */
  count: number;
  /** Shares of the clients it was tested on, in percent (they add up to 100). */
  supported: number;
  partial: number;
  unsupported: number;
  unknown: number;
  /** By family (caniemail's order), the clients that do not support it or only in part, with their notes. */
  clients: Array<{ family: string; family_name: string; platforms: ClientProblem[] }>;
}

export interface HtmlCheck {
  /**
   * The weighted share of support of the features found (each weighted by how many times it is
   * used; unknown support left out), in percent; null without HTML.
   */
  score: { supported: number; partial: number; unsupported: number } | null;
  /** Worst first: most clients without support, then most in part, then most used. */
  features: FeatureReport[];
  data: { source: string; license: string; copyright: string[]; last_update: string; clients: number };
}

const round = (n: number) => Math.round(n * 10) / 10;

/** How many times the HTML uses each feature (by caniemail slug, including slugs the data may not have). */
export function featureCounts(html: string): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (slugs: string[]) => {
    for (const s of slugs) counts.set(s, (counts.get(s) ?? 0) + 1);
  };
  const css: CssVisitor = {
    atRule: (name, prelude) => add(atRuleSlugs(name, prelude)),
    selector: (list) => add(selectorSlugs(list)),
    declaration: (property, value, important) => add(declarationSlugs(property, value, important)),
    comment: () => add(['css-comments']),
    nested: () => add(['css-nesting']),
  };
  let style: string | null = null;
  const parser = new Parser(
    {
      onopentag(name, attribs) {
        add(elementSlugs(name, attribs));
        if (attribs.style) scanDeclarations(attribs.style, css);
        if (name === 'style') style = '';
      },
      ontext(text) {
        if (style !== null) style += text;
      },
      onclosetag(name) {
        if (name === 'style' && style !== null) {
          scanStyleSheet(style, css);
          style = null;
        }
      },
      oncomment() {
        add(['html-comments']);
      },
      onprocessinginstruction(name, data) {
        if (name.toLowerCase() === '!doctype' && /^!doctype\s+html\s*$/i.test(data)) add(['html-doctype']);
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  return counts;
}

function report(feature: Feature, count: number, data: SupportData): FeatureReport {
  const tally = { y: 0, a: 0, n: 0, u: 0 };
  const families = new Map<string, ClientProblem[]>();
  for (const c of feature.clients) {
    tally[c.support]++;
    if (c.support !== 'n' && c.support !== 'a') continue;
    const list = families.get(c.family) ?? [];
    list.push({
      platform: c.platform,
      platform_name: data.platforms[c.platform] ?? c.platform,
      support: c.support === 'n' ? 'unsupported' : 'partial',
      notes: c.notes,
    });
    families.set(c.family, list);
  }
  const tested = feature.clients.length || 1;
  const order = Object.keys(data.families);
  return {
    slug: feature.slug,
    title: feature.title,
    url: feature.url,
    category: feature.category,
    count,
    supported: round((tally.y / tested) * 100),
    partial: round((tally.a / tested) * 100),
    unsupported: round((tally.n / tested) * 100),
    unknown: round((tally.u / tested) * 100),
    clients: [...families]
      .sort(([a], [b]) => (order.indexOf(a) >>> 0) - (order.indexOf(b) >>> 0))
      .map(([family, platforms]) => ({ family, family_name: data.families[family] ?? family, platforms })),
  };
}

/**
 * Which email clients will not render what this HTML uses, by caniemail.com's data: each feature
 * found (elements, attributes, CSS properties, values, selectors and at-rules of <style> and
 * style=""), how often, and its support across clients; then an overall score. Never throws on
 * bad HTML or CSS: what cannot be read is skipped, as a mail client would.
 */
export async function checkHtml(html: string | null): Promise<HtmlCheck> {
  const data = await supportData();
  const about = {
    source: data.source,
    license: data.license,
    copyright: data.copyright,
    last_update: data.lastUpdate,
    clients: data.clientCount,
  };
  if (!html) return { score: null, features: [], data: about };
  const features: FeatureReport[] = [];
  for (const [slug, count] of featureCounts(html)) {
    const feature = data.features.get(slug);
    if (feature) features.push(report(feature, count, data));
  }
  features.sort((a, b) => b.unsupported - a.unsupported || b.partial - a.partial || b.count - a.count);

  let weight = 0;
  const sum = { y: 0, a: 0, n: 0 };
  for (const f of features) {
    const known = f.supported + f.partial + f.unsupported;
    if (known === 0) continue;
    weight += f.count;
    sum.y += (f.count * f.supported) / known;
    sum.a += (f.count * f.partial) / known;
    sum.n += (f.count * f.unsupported) / known;
  }
  const score =
    weight === 0
      ? { supported: 100, partial: 0, unsupported: 0 }
      : {
          supported: round((sum.y / weight) * 100),
          partial: round((sum.a / weight) * 100),
          unsupported: round((sum.n / weight) * 100),
        };
  return { score, features, data: about };
}

/** What the check counts as: warned when some client does not render a feature found, or only in part. */
export const htmlCheckResult = (check: HtmlCheck): CheckResult =>
  check.features.some((f) => f.partial + f.unsupported > 0) ? 'warned' : 'passed';
