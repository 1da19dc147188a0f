import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.js';
import * as m0002 from './0002_capture.js';
import * as m0004 from './0004_policy.js';
import * as m0006 from './0006_retention.js';
import * as m0007 from './0007_housekeeping.js';
import * as m0008 from './0008_lean_indexes.js';
import * as m0009 from './0009_delivery_outcomes.js';
import * as m0010 from './0010_content_blobs.js';
import * as m0011 from './0011_webhook_event_tail.js';
import * as m0012 from './0012_any_sender.js';
import * as m0015 from './0015_feedback.js';
import * as m0016 from './0016_workers.js';
import * as m0017 from './0017_scheduled.js';
import * as m0018 from './0018_message_search.js';
import * as m0019 from './0019_message_bodies.js';
import * as m0020 from './0020_search_pending_list.js';
import * as m0021 from './0021_search_index_deferred.js';
import * as m0022 from './0022_domain_checks.js';
import * as m0023 from './0023_submission_spool.js';
import * as m0024 from './0024_webhook_paused_reason.js';
import * as m0025 from './0025_messages_category_index.js';
import * as m0026 from './0026_drop_recipient_class_index.js';

/** Every migration, by name; applied in name order. Add new ones at the end. */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_capture': m0002,
  '0004_policy': m0004,
  '0006_retention': m0006,
  '0007_housekeeping': m0007,
  '0008_lean_indexes': m0008,
  '0009_delivery_outcomes': m0009,
  '0010_content_blobs': m0010,
  '0011_webhook_event_tail': m0011,
  '0012_any_sender': m0012,
  '0015_feedback': m0015,
  '0016_workers': m0016,
  '0017_scheduled': m0017,
  '0018_message_search': m0018,
  '0019_message_bodies': m0019,
  '0020_search_pending_list': m0020,
  '0021_search_index_deferred': m0021,
  '0022_domain_checks': m0022,
  '0023_submission_spool': m0023,
  '0024_webhook_paused_reason': m0024,
  '0025_messages_category_index': m0025,
  '0026_drop_recipient_class_index': m0026,
};
