import type { Kysely } from 'kysely';
import type { DB, TemplateContentRow, TemplateRow, TemplateVersionRow } from '../db/schema.js';

// Repository functions take `db` first so a transaction passes through unchanged.

export function findTemplate(db: Kysely<DB>, key: string): Promise<TemplateRow | undefined> {
  return db.selectFrom('email_templates').selectAll().where('key', '=', key).executeTakeFirst();
}

export function listTemplates(db: Kysely<DB>, opts: { includeInactive?: boolean; category?: string } = {}): Promise<TemplateRow[]> {
  let q = db.selectFrom('email_templates').selectAll();
  if (!opts.includeInactive) q = q.where('is_active', '=', 1);
  if (opts.category) q = q.where('category', '=', opts.category);
  return q.orderBy('category').orderBy('key').execute();
}

export function findVersion(db: Kysely<DB>, key: string, version: number): Promise<TemplateVersionRow | undefined> {
  return db
    .selectFrom('email_template_versions')
    .selectAll()
    .where('template_key', '=', key)
    .where('version', '=', version)
    .executeTakeFirst();
}

export function listContents(db: Kysely<DB>, key: string, version: number): Promise<TemplateContentRow[]> {
  return db
    .selectFrom('email_template_contents')
    .selectAll()
    .where('template_key', '=', key)
    .where('version', '=', version)
    .orderBy('locale')
    .execute();
}

export function listVersions(db: Kysely<DB>, key: string): Promise<TemplateVersionRow[]> {
  return db.selectFrom('email_template_versions').selectAll().where('template_key', '=', key).orderBy('version', 'desc').execute();
}
