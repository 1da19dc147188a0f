import type { Kysely } from 'kysely';

/**
 * A row per running delivery worker (or other leasing process part), kept fresh by its heartbeat,
 * so the leases of a worker that died are taken over in seconds instead of at their expiry:
 * - id: the lease owner written into email_messages.lease_owner;
 * - host, pid, process_start: where it runs; process_start names the process exactly (Linux: boot
 *   id and start time), so a pid reused after a restart does not pass for the dead process;
 * - kind: what it is (delivery, …); started_at, heartbeat_at: epoch ms;
 * - stopping: 1 once it drains (SIGTERM), still heartbeating until its row is removed.
 * Frozen in time: no application imports.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('workers')
    .addColumn('id', 'varchar(200)', (c) => c.primaryKey())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('process_start', 'varchar(100)')
    .addColumn('kind', 'varchar(50)', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
    .addColumn('stopping', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('workers').ifExists().execute();
}
