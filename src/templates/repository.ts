import type { Kysely } from 'kysely';
import { reusedQuery } from '../platform/db/reused-sql.js';
import type { DB, TemplateContentRow, TemplateRow, TemplateVersionRow } from '../platform/db/schema.js';

// Repository functions take `db` first so a transaction passes through unchanged.

export async function findTemplate(db: Kysely<DB>, key: string): Promise<TemplateRow | undefined> {
  const rows = await reusedQuery(db, 'template by key', [key], () =>
    db.selectFrom('email_templates').selectAll().where('key', '=', key),
  );
  return rows[0];
}

/** Templates with the subject of their active version in its default locale. */
export function listTemplates(
  db: Kysely<DB>,
  opts: { includeInactive?: boolean; category?: string } = {},
): Promise<Array<TemplateRow & { subject: string }>> {
  let q = db
    .selectFrom('email_templates as t')
    .innerJoin('email_template_versions as v', (j) =>
      j.onRef('v.template_key', '=', 't.key').onRef('v.version', '=', 't.version'),
    )
    .innerJoin('email_template_contents as c', (j) =>
      j
        .onRef('c.template_key', '=', 't.key')
        .onRef('c.version', '=', 't.version')
        .onRef('c.locale', '=', 'v.default_locale'),
    )
    .selectAll('t')
    .select('c.subject');
  if (!opts.includeInactive) q = q.where('t.is_active', '=', 1);
  if (opts.category) q = q.where('t.category', '=', opts.category);
  return q.orderBy('t.category').orderBy('t.key').execute();
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
  return db
    .selectFrom('email_template_versions')
    .selectAll()
    .where('template_key', '=', key)
    .orderBy('version', 'desc')
    .execute();
}
