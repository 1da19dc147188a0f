import type { Kysely } from 'kysely';
import type { Config } from '../platform/config.js';
import type { DB } from '../platform/db/schema.js';
import { AppError } from '../platform/errors.js';
import { iso } from '../platform/time.js';
import { PRIORITY_VALUE, type TemplateDefinition } from './definition.js';
import { applyPatch, blankDefinition, metadataFingerprint, type TemplatePatch, versionFingerprint } from './patch.js';
import { findTemplate, listVersions } from './repository.js';
import type { TemplateService } from './service.js';
import { insertTemplate, insertVersion } from './store.js';
import { validateDefinition } from './validate.js';

export interface SaveOutcome {
  key: string;
  /** created: version 1 of a new template; new_version: version N+1 is now active; unchanged: no new version. */
  action: 'created' | 'new_version' | 'unchanged';
  version: number;
  /** Name, description, category, class, priority or max_attempts changed (they are not versioned). */
  metadata_updated: boolean;
}

export interface SaveOptions {
  actor: string | null;
  comment?: string | null;
  /** The active version the editor started from: a save over a newer one is a 409. */
  baseVersion?: number;
}

/** A unique key (template key, or template_key + version) taken by a concurrent writer. */
function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === '23505' || (typeof code === 'string' && /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test(code));
}

const MAX_RETRIES = 8;

/**
 * Changes to templates: create, edit (a new immutable version), activate, deactivate. Every
 * change is validated by the same compiler that renders for sending, so what is saved can
 * be sent. Rendering caches need no invalidation: they are keyed by version, and versions
 * are never rewritten.
 */
export class TemplateAdmin {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly templates: TemplateService,
    private readonly config: Config,
  ) {}

  async create(key: string, patch: TemplatePatch, opts: SaveOptions): Promise<SaveOutcome> {
    if (await findTemplate(this.db, key))
      throw new AppError('conflict', `Template ${key} already exists; edit it with PUT`, { template_key: key });
    return this.save(applyPatch(blankDefinition(key, this.config), patch), opts);
  }

  async update(key: string, patch: TemplatePatch, opts: SaveOptions): Promise<SaveOutcome> {
    const current = await this.templates.definition(key);
    return this.save(applyPatch(current, patch), opts, current);
  }

  /**
   * Stores a definition: a new template, a new version where the versioned content changed,
   * or nothing. `postier templates import` and the API both come through here.
   */
  async save(def: TemplateDefinition, opts: SaveOptions, current?: TemplateDefinition): Promise<SaveOutcome> {
    this.check(def);
    if (!current && (await findTemplate(this.db, def.key))) current = await this.templates.definition(def.key);
    if (!current) return this.insertNew(def, opts);

    const contentChanged = versionFingerprint(def) !== versionFingerprint(current);
    const metadataChanged = metadataFingerprint(def) !== metadataFingerprint(current);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.db.transaction().execute(async (trx) => {
          const row = await findTemplate(trx, def.key);
          if (!row) throw new AppError('template_not_found', `No template ${def.key}`, { template_key: def.key });
          if (opts.baseVersion !== undefined && opts.baseVersion !== row.version) {
            throw new AppError(
              'conflict',
              `Template ${def.key} changed since version ${opts.baseVersion}: version ${row.version} is active now`,
              {
                template_key: def.key,
                base_version: opts.baseVersion,
                active_version: row.version,
              },
            );
          }
          let version = row.version;
          const now = Date.now();
          if (contentChanged) {
            const max = await trx
              .selectFrom('email_template_versions')
              .select((eb) => eb.fn.max('version').as('v'))
              .where('template_key', '=', def.key)
              .executeTakeFirstOrThrow();
            version = Number(max.v ?? 0) + 1;
            // Two editors saving at once both compute N+1: the unique (key, version) lets one
            // win; the other fails here and retries as N+2 (or gets its 409 above).
            await insertVersion(trx, def, version, opts.actor, now, opts.comment ?? null);
          }
          if (contentChanged || metadataChanged) {
            await trx
              .updateTable('email_templates')
              .set({
                version,
                name: def.name,
                description: def.description,
                category: def.category,
                class: def.class,
                priority: PRIORITY_VALUE[def.priority],
                max_attempts: def.max_attempts,
                updated_by: opts.actor,
                updated_at: now,
              })
              .where('key', '=', def.key)
              .execute();
          }
          return {
            key: def.key,
            action: contentChanged ? 'new_version' : 'unchanged',
            version,
            metadata_updated: metadataChanged,
          } as const;
        });
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        if (attempt >= MAX_RETRIES)
          throw new AppError('conflict', `Template ${def.key} is being edited concurrently; retry`, {
            template_key: def.key,
          });
      }
    }
  }

  private async insertNew(def: TemplateDefinition, opts: SaveOptions): Promise<SaveOutcome> {
    try {
      await this.db
        .transaction()
        .execute((trx) => insertTemplate(trx, def, opts.actor, Date.now(), opts.comment ?? 'initial version'));
    } catch (e) {
      if (isUniqueViolation(e))
        throw new AppError('conflict', `Template ${def.key} already exists`, { template_key: def.key });
      throw e;
    }
    return { key: def.key, action: 'created', version: 1, metadata_updated: false };
  }

  /** Compiles every locale and, when the sample variables suffice, renders each one as a sending would. */
  check(def: TemplateDefinition): void {
    const compiled = validateDefinition(def, (content, layout) => this.templates.compileContent(content, layout));
    for (const [locale, c] of compiled) {
      const t = {
        locale,
        required: def.required_variables,
        optional: def.optional_variables,
        sensitive: def.sensitive_variables,
        compiled: c,
      };
      if (this.templates.missingVariables(t, def.sample_variables).length > 0) continue;
      try {
        this.templates.render(t, def.sample_variables);
      } catch (e) {
        // A template that cannot render its own sample (a runaway loop, a huge output) is refused now, not at send time.
        if (e instanceof AppError && e.code === 'render_error') {
          throw new AppError('render_error', `${locale}/${e.message} (rendering sample_variables)`, {
            locale,
            ...(e.details as object),
          });
        }
        throw e;
      }
    }
  }

  async activate(key: string, version: number | undefined, actor: string | null): Promise<void> {
    const row = await findTemplate(this.db, key);
    if (!row) throw new AppError('template_not_found', `No template ${key}`, { template_key: key });
    const v = version ?? row.version;
    const exists = await this.db
      .selectFrom('email_template_versions')
      .select('version')
      .where('template_key', '=', key)
      .where('version', '=', v)
      .executeTakeFirst();
    if (!exists)
      throw new AppError('template_not_found', `Template ${key} has no version ${v}`, {
        template_key: key,
        version: v,
      });
    await this.db
      .updateTable('email_templates')
      .set({ version: v, is_active: 1, updated_by: actor, updated_at: Date.now() })
      .where('key', '=', key)
      .execute();
  }

  /** Sends of the key are refused from now on; every version stays, and `activate` brings it back. */
  async deactivate(key: string, actor: string | null): Promise<void> {
    const r = await this.db
      .updateTable('email_templates')
      .set({ is_active: 0, updated_by: actor, updated_at: Date.now() })
      .where('key', '=', key)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0)
      throw new AppError('template_not_found', `No template ${key}`, { template_key: key });
  }

  /** A new template (version 1) with the active version's content and settings under another key. */
  async duplicate(key: string, newKey: string, name: string | undefined, actor: string | null): Promise<SaveOutcome> {
    const def = await this.templates.definition(key);
    if (await findTemplate(this.db, newKey))
      throw new AppError('conflict', `Template ${newKey} already exists`, { template_key: newKey });
    const row = await findTemplate(this.db, key);
    return this.save(
      { ...def, key: newKey, name: name ?? `${def.name} (copy)` },
      { actor, comment: `duplicated from ${key} v${row?.version ?? '?'}` },
    );
  }

  /**
   * Deletes a template and every version of it, only while no message names it: messages keep
   * their rendered content, but a resend and the archive's link to the template need it, so a
   * template that was used is deactivated instead (409 conflict says so).
   */
  async remove(key: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await findTemplate(trx, key);
      if (!row) throw new AppError('template_not_found', `No template ${key}`, { template_key: key });
      const used = await trx
        .selectFrom('email_messages')
        .select('id')
        .where('template_key', '=', key)
        .limit(1)
        .executeTakeFirst();
      if (used)
        throw new AppError('conflict', `Template ${key} was used by messages: deactivate it instead of deleting it`, {
          template_key: key,
          used_by_messages: true,
        });
      // Explicitly, not by cascade: SQLite enforces foreign keys only when a connection turns them on.
      await trx.deleteFrom('email_template_contents').where('template_key', '=', key).execute();
      await trx.deleteFrom('email_template_versions').where('template_key', '=', key).execute();
      await trx.deleteFrom('email_templates').where('key', '=', key).execute();
    });
  }

  async versions(key: string) {
    const row = await findTemplate(this.db, key);
    if (!row) throw new AppError('template_not_found', `No template ${key}`, { template_key: key });
    const [versions, contents] = await Promise.all([
      listVersions(this.db, key),
      this.db
        .selectFrom('email_template_contents')
        .select(['version', 'locale'])
        .where('template_key', '=', key)
        .orderBy('locale')
        .execute(),
    ]);
    const items = versions.map((v) => ({
      version: v.version,
      active: v.version === row.version,
      comment: v.comment,
      default_locale: v.default_locale,
      locales: contents.filter((c) => c.version === v.version).map((c) => c.locale),
      layout: v.layout,
      created_by: v.created_by,
      created_at: iso(v.created_at),
    }));
    return { key, active_version: row.version, is_active: row.is_active === 1, items, total: items.length };
  }
}
