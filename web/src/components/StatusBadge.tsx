import type { MessageStatus } from '../api-types.js';
import { useI18n } from '../i18n/context.js';
import { formatDateTime } from '../lib/format.js';

type Shown = MessageStatus;

const TONE: Record<Shown, string> = {
  queued: 'info',
  scheduled: 'info',
  sending: 'info',
  sent: 'ok',
  partially_sent: 'warn',
  delivered: 'ok',
  captured: 'muted',
  bounced: 'bad',
  complaint: 'bad',
  failed: 'bad',
  suppressed: 'warn',
  rate_limited: 'warn',
  cancelled: 'muted',
};

/** A status in words and colour; a queued message waiting for its send time reads "Scheduled (time)". */
export function StatusBadge({ status, scheduledFor }: { status: Shown; scheduledFor?: string | null }) {
  const { t, lang } = useI18n();
  if (scheduledFor || status === 'scheduled') {
    return (
      <span className="badge info" data-status="scheduled">
        {scheduledFor ? t('status.scheduledFor', { time: formatDateTime(scheduledFor, lang) }) : t('status.scheduled')}
      </span>
    );
  }
  return <span className={`badge ${TONE[status] ?? 'muted'}`}>{t(`status.${status}`)}</span>;
}
