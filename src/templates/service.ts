import type { Kysely } from 'kysely';
import type { Config } from '../platform/config.js';
import type { DB, TemplateRow, TemplateVersionRow } from '../platform/db/schema.js';
import { reusedQuery } from '../platform/db/reused-sql.js';
import { AppError } from '../platform/errors.js';
import { iso } from '../platform/time.js';
import { type LocaleContent, priorityName, type TemplateDefinition } from './definition.js';
import type { Layout } from './layouts.js';
import {
  type CompiledTemplate,
  compileTemplate,
  type RenderBudget,
  type Rendered,
  renderBudget,
  renderTemplate,
} from './render.js';
import { findTemplate, findVersion, listContents, listTemplates } from './repository.js';
import { maskVariables, scrubValues } from './sensitive.js';

/** What rendering reads from the configuration: EMAIL_TIMEZONE and the BRAND_* variables. */
export interface TemplateSettings {
  timeZone: string;
  brand: Config['brand'];
}

/** A template version with everything needed to render it in one locale. */
export interface ResolvedTemplate {
  template: TemplateRow;
  version: TemplateVersionRow;
  locale: string;
  locales: string[];
  content: LocaleContent;
  required: string[];
  optional: string[];
  sensitive: string[];
  attachmentsAllowed: boolean;
  compiled: CompiledTemplate;
}

/** What rendering needs: a saved version (ResolvedTemplate) or unsaved editor content. */
export type Renderable = Pick<ResolvedTemplate, 'locale' | 'required' | 'optional' | 'sensitive' | 'compiled'>;

export interface Preview extends Rendered {
  missing_variables: string[];
}

interface VersionBundle {
  version: TemplateVersionRow;
  contents: Map<string, LocaleContent>;
}

const parseList = (s: string): string[] => JSON.parse(s) as string[];

/** Picks `requested` if the version has it, else its language ("en-GB" → "en"), else the default. */
export function pickLocale(requested: string | undefined, available: string[], fallback: string): string {
  if (requested) {
    const want = requested.toLowerCase();
    const exact = available.find((l) => l.toLowerCase() === want);
    if (exact) return exact;
    const lang = available.find((l) => l.toLowerCase() === want.split(/[-_]/)[0]);
    if (lang) return lang;
  }
  return fallback;
}

export class TemplateService {
  // Versions are immutable, so both caches are keyed by version and never invalidated.
  private readonly bundles = new Map<string, VersionBundle>();
  private readonly compiled = new Map<string, CompiledTemplate>();
  private static readonly MAX_CACHED = 2000;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly settings: TemplateSettings,
    private readonly layouts: Map<string, Layout>,
  ) {}

  /** The template to send: the active version unless one is pinned, in the best locale. */
  async resolve(
    key: string,
    opts: { version?: number; locale?: string; allowInactive?: boolean } = {},
  ): Promise<ResolvedTemplate> {
    return this.resolveRow(key, await findTemplate(this.db, key), opts);
  }

  /**
   * Template rows as last read by resolveCached: a template row changes (new active version,
   * deactivation, settings) while versions never do. Whoever resolves from it must check the row
   * again inside the commit that stores what it rendered (changedTemplates), and render again on
   * a change: no message may be sent from an old version after an edit.
   */
  private readonly rows = new Map<string, TemplateRow>();

  /** resolve() without reading the template row when it was read before; see `rows`. */
  async resolveCached(key: string, opts: { version?: number; locale?: string } = {}): Promise<ResolvedTemplate> {
    const cached = this.rows.get(key);
    if (cached) {
      try {
        return await this.resolveRow(key, cached, opts);
      } catch {
        // Only a success can be checked at commit: a refusal (inactive, no such version) is read again.
        this.rows.delete(key);
      }
    }
    const row = await findTemplate(this.db, key);
    if (row) remember(this.rows, key, row, TemplateService.MAX_CACHED);
    return this.resolveRow(key, row, opts);
  }

  /**
   * Of these rows (as resolveCached gave them), those that are not the stored row any more, read in one query through `db` (a transaction: its commit is the point the check holds
   * for). The cache is refreshed for them.
   */
  async changedTemplates(db: Kysely<DB>, used: TemplateRow[]): Promise<Set<TemplateRow>> {
    const keys = [...new Set(used.map((r) => r.key))];
    const changed = new Set<TemplateRow>();
    if (keys.length === 0) return changed;
    const current = new Map(
      (
        await reusedQuery(db, `templates by ${keys.length} keys`, keys, () =>
          db.selectFrom('email_templates').selectAll().where('key', 'in', keys),
        )
      ).map((r) => [r.key, r]),
    );
    for (const row of used) {
      const now = current.get(row.key);
      const same = now !== undefined && (Object.keys(row) as Array<keyof TemplateRow>).every((k) => row[k] === now[k]);
      if (same) continue;
      changed.add(row);
      if (now) this.rows.set(row.key, now);
      else this.rows.delete(row.key);
    }
    return changed;
  }

  private async resolveRow(
    key: string,
    template: TemplateRow | undefined,
    opts: { version?: number; locale?: string; allowInactive?: boolean },
  ): Promise<ResolvedTemplate> {
    if (!template || (!template.is_active && !opts.allowInactive)) {
      throw new AppError('template_not_found', `No active template with key ${JSON.stringify(key)}`, {
        template_key: key,
      });
    }
    const versionNumber = opts.version ?? template.version;
    const bundle = await this.bundle(key, versionNumber);
    if (!bundle) {
      throw new AppError('template_not_found', `Template ${key} has no version ${versionNumber}`, {
        template_key: key,
        version: versionNumber,
      });
    }
    const locales = [...bundle.contents.keys()];
    const locale = pickLocale(opts.locale, locales, bundle.version.default_locale);
    const content = bundle.contents.get(locale)!;
    return {
      template,
      version: bundle.version,
      locale,
      locales,
      content,
      required: parseList(bundle.version.required_variables),
      optional: parseList(bundle.version.optional_variables),
      sensitive: parseList(bundle.version.sensitive_variables),
      attachmentsAllowed: bundle.version.attachments_allowed === 1,
      compiled: this.compile(key, versionNumber, locale, content, bundle.version.layout),
    };
  }

  /** Names the template needs that `variables` lacks: declared required ones and any other it reads. */
  missingVariables(t: Renderable, variables: Record<string, unknown>): string[] {
    const optional = new Set(t.optional);
    const needed = new Set([...t.required, ...t.compiled.usedVariables.filter((v) => !optional.has(v))]);
    return [...needed].filter((v) => variables[v] === undefined || variables[v] === null).sort();
  }

  /** The one rendering path: sending, test renders and previews all come through here. */
  render(t: Renderable, variables: Record<string, unknown>, now = new Date(), budget?: RenderBudget): Rendered {
    const missing = this.missingVariables(t, variables);
    if (missing.length > 0) {
      throw new AppError('missing_variables', `Missing template variables: ${missing.join(', ')}`, { missing });
    }
    // A declared optional variable left out reads as nil (empty, false in an `if`), not as an
    // undefined variable: sending is strict about undeclared names only.
    const scope = { ...Object.fromEntries(t.optional.map((v) => [v, null])), ...variables };
    return renderTemplate(t.compiled, scope, { ...this.context(t, now, true), budget });
  }

  /**
   * Rendering for a message: `clear` is what the recipient gets; `archive` is what the archive
   * columns may hold, with sensitive variables masked. `clear` is null when both are the same.
   * The archive is a rendering of its own (not a search-and-replace of the clear one), so a
   * masked value cannot leak through a filter, the subject or the text part made from HTML.
   */
  renderForSend(
    t: Renderable,
    variables: Record<string, unknown>,
    now = new Date(),
  ): { archive: Rendered; clear: Rendered | null } {
    // Both renderings share one time limit: a slow template holds the event loop once, not twice.
    const budget = renderBudget();
    const clear = this.render(t, variables, now, budget);
    if (!t.sensitive.some((name) => variables[name] !== undefined && variables[name] !== null))
      return { archive: clear, clear: null };
    const archive = scrubValues(
      this.render(t, maskVariables(variables, t.sensitive), now, budget),
      variables,
      t.sensitive,
    );
    return { archive, clear };
  }

  /**
   * A test render for an editor: never fails on missing variables. Each missing one shows as
   * its own Liquid tag (`{{ name }}`) so the preview still reads, and is listed.
   */
  preview(t: Renderable, variables: Record<string, unknown>, now = new Date()): Preview {
    const missing = this.missingVariables(t, variables);
    const filled: Record<string, unknown> = { ...variables };
    for (const name of missing) filled[name] = `{{ ${name} }}`;
    const rendered = renderTemplate(t.compiled, filled, this.context(t, now, false));
    return { ...rendered, missing_variables: missing };
  }

  layoutNames(): string[] {
    return [...this.layouts.keys()].sort();
  }

  private context(t: Renderable, now: Date, strict: boolean) {
    return {
      locale: t.locale,
      timeZone: this.settings.timeZone,
      now,
      strict,
      brand: {
        name: this.settings.brand.name,
        logo_url: this.settings.brand.logoUrl,
        support_email: this.settings.brand.supportEmail,
        website_url: this.settings.brand.websiteUrl,
      },
    };
  }

  compileContent(content: LocaleContent, layout: string | null): CompiledTemplate {
    return compileTemplate(content, layout ? this.layout(layout) : undefined);
  }

  private layout(name: string): Layout {
    const layout = this.layouts.get(name);
    if (!layout)
      throw new AppError('template_error', `Unknown layout ${JSON.stringify(name)}`, {
        layout: name,
        known: [...this.layouts.keys()],
      });
    return layout;
  }

  private compile(
    key: string,
    version: number,
    locale: string,
    content: LocaleContent,
    layout: string | null,
  ): CompiledTemplate {
    const k = `${key}@${version}/${locale}`;
    let c = this.compiled.get(k);
    if (!c) {
      c = this.compileContent(content, layout);
      remember(this.compiled, k, c, TemplateService.MAX_CACHED);
    }
    return c;
  }

  private async bundle(key: string, version: number): Promise<VersionBundle | undefined> {
    const k = `${key}@${version}`;
    const hit = this.bundles.get(k);
    if (hit) return hit;
    const row = await findVersion(this.db, key, version);
    if (!row) return undefined;
    const contents = new Map<string, LocaleContent>(
      (await listContents(this.db, key, version)).map((c) => [
        c.locale,
        { subject: c.subject, html_content: c.html_content, text_content: c.text_content },
      ]),
    );
    const bundle = { version: row, contents };
    remember(this.bundles, k, bundle, TemplateService.MAX_CACHED);
    return bundle;
  }

  /** A saved version as a definition (the file format), e.g. to edit it or export it. */
  async definition(key: string, version?: number): Promise<TemplateDefinition> {
    const t = await this.resolve(key, { version, allowInactive: true });
    const bundle = (await this.bundle(key, t.version.version))!;
    return {
      key: t.template.key,
      name: t.template.name,
      description: t.template.description,
      category: t.template.category,
      class: t.template.class,
      priority: priorityName(t.template.priority),
      max_attempts: t.template.max_attempts,
      attachments_allowed: t.attachmentsAllowed,
      layout: t.version.layout,
      default_locale: t.version.default_locale,
      required_variables: t.required,
      optional_variables: t.optional,
      sensitive_variables: t.sensitive,
      sample_variables: JSON.parse(t.version.sample_variables) as Record<string, unknown>,
      locales: Object.fromEntries([...bundle.contents].map(([l, c]) => [l, { ...c }])),
    };
  }

  // ---- read views for the API ----

  async list(opts: { includeInactive?: boolean; category?: string } = {}) {
    const rows = await listTemplates(this.db, opts);
    return rows.map((t) => ({
      key: t.key,
      name: t.name,
      subject: t.subject,
      category: t.category,
      class: t.class,
      version: t.version,
      is_active: t.is_active === 1,
    }));
  }

  /** The whole template: its definition (the given or active version, every locale) and its history fields. */
  async view(key: string, version?: number) {
    const t = await this.resolve(key, { version, allowInactive: true });
    const def = await this.definition(key, t.version.version);
    return {
      ...def,
      is_active: t.template.is_active === 1,
      active_version: t.template.version,
      version: t.version.version,
      // The default locale's content, as the specification's single-locale shape has it.
      subject: t.content.subject,
      html_content: t.content.html_content,
      text_content: t.content.text_content,
      created_by: t.template.created_by,
      created_at: iso(t.template.created_at),
      updated_by: t.template.updated_by,
      updated_at: iso(t.template.updated_at),
      version_created_by: t.version.created_by,
      version_created_at: iso(t.version.created_at),
    };
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}
