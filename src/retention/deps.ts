import type { Kysely } from 'kysely';
import type { EventLog } from '../events/index.js';
import type { Config } from '../platform/config.js';
import type { Dialect } from '../platform/db/database.js';
import type { DB } from '../platform/db/schema.js';

/** What the retention jobs and erasure use. */
export interface RetentionDeps {
  db: Kysely<DB>;
  dialect: Dialect;
  /** Retention periods (EMAIL_*_DAYS) and the secret key the address hashes derive from. */
  config: Config;
  events: EventLog;
}
