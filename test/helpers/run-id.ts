/**
 * The test run's id (set by global-setup.ts, inherited by the workers), in the names of the
 * PostgreSQL schemas the run creates, so that its teardown drops those and no other run's.
 */
export const RUN_ID_VARIABLE = 'POSTIER_TEST_RUN_ID';

/** Outside a Vitest run (a script using the test helpers) the process makes up its own. */
export const runId = (): string => (process.env[RUN_ID_VARIABLE] ??= `p${process.pid}`);

/** The folders of the workers' migrated SQLite databases (context.ts), `<prefix><run id>-…` in the temp dir. */
export const SQLITE_TEMPLATE_PREFIX = 'postier-test-template-';
