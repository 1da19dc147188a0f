/**
 * caniemail.com's support data (MIT), as scripts/update-caniemail.ts derives it into
 * caniemail.json: per feature, the support of each email client's latest tested version.
 * Loaded when a check first needs it: most processes never run one.
 */

export type Support = 'y' | 'a' | 'n' | 'u';

export interface ClientSupport {
  family: string;
  platform: string;
  support: Support;
  /** The notes this client's value refers to (caniemail's Markdown, as written). */
  notes: string[];
}

export interface Feature {
  slug: string;
  title: string;
  url: string;
  category: string;
  /** The clients it was tested on; a client never tested is not listed. */
  clients: ClientSupport[];
}

export interface SupportData {
  source: string;
  license: string;
  copyright: string[];
  lastUpdate: string;
  families: Record<string, string>;
  platforms: Record<string, string>;
  /** How many clients (family and platform) the data knows. */
  clientCount: number;
  features: Map<string, Feature>;
}

interface DerivedFile {
  source: string;
  license: string;
  copyright: string[];
  last_update_date: string;
  families: Record<string, string>;
  platforms: Record<string, string>;
  clients: string[];
  features: Array<{
    slug: string;
    title: string;
    url: string;
    category: string;
    support: string;
    notes: Record<string, string>;
  }>;
}

export function readSupportData(file: DerivedFile): SupportData {
  const clients = file.clients.map((c) => {
    const [family, platform] = c.split('.') as [string, string];
    return { family, platform };
  });
  const features = new Map<string, Feature>();
  for (const f of file.features) {
    const values = f.support.split(' ');
    if (values.length !== clients.length) throw new Error(`caniemail.json: ${f.slug} has ${values.length} values`);
    const tested: ClientSupport[] = [];
    values.forEach((v, i) => {
      if (v === '-') return;
      const [support, ...refs] = v.split('#');
      tested.push({
        ...clients[i]!,
        support: support as Support,
        notes: refs.map((n) => f.notes[n]).filter((n): n is string => n !== undefined),
      });
    });
    features.set(f.slug, { slug: f.slug, title: f.title, url: f.url, category: f.category, clients: tested });
  }
  return {
    source: file.source,
    license: file.license,
    copyright: file.copyright,
    lastUpdate: file.last_update_date,
    families: file.families,
    platforms: file.platforms,
    clientCount: clients.length,
    features,
  };
}

let loading: Promise<SupportData> | undefined;

/** The committed data, read once per process. */
export function supportData(): Promise<SupportData> {
  loading ??= import('./caniemail.json', { with: { type: 'json' } }).then((m) =>
    readSupportData(m.default as unknown as DerivedFile),
  );
  return loading;
}
