import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Test files share one PostgreSQL database: each file gets its own schema (see test/helpers),
    // so files may run in parallel; 2 cores make 2 workers the sweet spot.
    maxWorkers: 2,
    // A worker imports the app once for all the files it runs, not once per file (whole suite on
    // both databases: 45 s of imports instead of 300 s). Test files must therefore leave no global
    // behind: each makes its own context (database, ports, servers) and closes it; spies are
    // restored after each test.
    isolate: false,
    restoreMocks: true,
    // In CI (a shared machine whose speed varies 2× between runs) a failed test runs once more
    // before it fails the run; the report still names every retried test, so flakiness is seen.
    retry: process.env.CI ? 1 : 0,
    // Builds web/dist when web/src is newer (the admin UI tests drive the built app).
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
