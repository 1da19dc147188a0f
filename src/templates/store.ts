import type { Kysely } from 'kysely';
import type { DB } from '../platform/db/schema.js';
import { newId } from '../platform/ids.js';
import { type LocaleContent, PRIORITY_VALUE, type TemplateDefinition } from './definition.js';

/** Writes version `version` of a template (its metadata row and one content row per locale). */
export async function insertVersion(
  db: Kysely<DB>,
  def: TemplateDefinition,
  version: number,
  actor: string | null,
  now: number,
  comment: string | null = null,
): Promise<void> {
  await db
    .insertInto('email_template_versions')
    .values({
      id: newId(),
      template_key: def.key,
      version,
      default_locale: def.default_locale,
      layout: def.layout,
      attachments_allowed: def.attachments_allowed ? 1 : 0,
      required_variables: JSON.stringify(def.required_variables),
      optional_variables: JSON.stringify(def.optional_variables),
      sensitive_variables: JSON.stringify(def.sensitive_variables),
      sample_variables: JSON.stringify(def.sample_variables),
      comment,
      created_by: actor,
      created_at: now,
    })
    .execute();
  await db
    .insertInto('email_template_contents')
    .values(
      Object.entries(def.locales).map(([locale, c]: [string, LocaleContent]) => ({
        template_key: def.key,
        version,
        locale,
        subject: c.subject,
        html_content: c.html_content,
        text_content: c.text_content,
      })),
    )
    .execute();
}

/** Creates a template at version 1. */
export async function insertTemplate(
  db: Kysely<DB>,
  def: TemplateDefinition,
  actor: string | null,
  now: number,
  comment = 'initial version',
): Promise<void> {
  await db
    .insertInto('email_templates')
    .values({
      id: newId(),
      key: def.key,
      name: def.name,
      description: def.description,
      category: def.category,
      class: def.class,
      priority: PRIORITY_VALUE[def.priority],
      max_attempts: def.max_attempts,
      version: 1,
      is_active: 1,
      created_by: actor,
      created_at: now,
      updated_by: actor,
      updated_at: now,
    })
    .execute();
  await insertVersion(db, def, 1, actor, now, comment);
}
