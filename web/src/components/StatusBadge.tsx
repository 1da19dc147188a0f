import type { MessageStatus } from '../api-types.js';
import { useT } from '../i18n/context.js';

const TONE: Record<MessageStatus, string> = {
  queued: 'info',
  sending: 'info',
  sent: 'ok',
  partially_sent: 'warn',
  delivered: 'ok',
  bounced: 'bad',
  complaint: 'bad',
  failed: 'bad',
  suppressed: 'warn',
  rate_limited: 'warn',
  cancelled: 'muted',
};

export function StatusBadge({ status }: { status: MessageStatus }) {
  const t = useT();
  return <span className={`badge ${TONE[status] ?? 'muted'}`}>{t(`status.${status}`)}</span>;
}
