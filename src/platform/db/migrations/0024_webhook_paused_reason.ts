import type { Kysely } from 'kysely';

/**
 * webhook_endpoints.paused_reason: why Postier paused an endpoint itself (the endpoint answered
 * 410 Gone), shown to the operator by the API and the admin UI; null for an active endpoint and
 * for one an operator paused. Resuming the endpoint clears it.
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webhook_endpoints').addColumn('paused_reason', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webhook_endpoints').dropColumn('paused_reason').execute();
}
