import type { TestContext } from './context.js';

/** DATABASE_URL that reaches this context's database from another process (its PostgreSQL schema first in search_path). */
export function databaseUrlOf(t: TestContext): string {
  if (!t.schema) return t.config.databaseUrl;
  return `${t.config.databaseUrl}${t.config.databaseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${t.schema}`)}`;
}

/**
 * The environment of a `postier` child process (test/support/processes.ts) on this context's
 * database and data folder: logging at info, since its start-up lines are waited for.
 */
export function childEnv(t: TestContext, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrlOf(t),
    DATA_DIR: t.dir,
    LOG_LEVEL: 'info',
    SMTP_FROM_EMAIL: 'noreply@rgz.bj',
    SMTP_FROM_NAME: 'RGZ Notifications',
    WORKER_POLL_MS: '20',
    ...extra,
  };
}
