import type { MessageEvent } from '../api-types.js';
import { useI18n } from '../i18n/context.js';
import { type MsgKey, hasKey } from '../i18n/index.js';
import { formatDateTime } from '../lib/format.js';

/** Event data worth reading inline (SMTP reply, error, attempt); the rest stays in the JSON. */
function summary(data: unknown): string | null {
  if (!data || typeof data !== 'object') return null;
  const d = data as Record<string, unknown>;
  const keys = [
    'attempt',
    'send_at',
    'next_attempt_at',
    'response',
    'smtp_response',
    'code',
    'relay_problem',
    'error',
    'error_message',
    'message',
  ];
  const parts = [...keys, 'reason', 'bounce_type', 'status']
    .filter((k) => d[k] !== undefined && d[k] !== null && d[k] !== '')
    .map((k) => `${k}: ${typeof d[k] === 'object' ? JSON.stringify(d[k]) : String(d[k])}`);
  return parts.length ? parts.join(' · ') : null;
}

/** The event in the operator's language; a type this UI does not know yet shows as sent. */
export const eventLabel = (t: (k: MsgKey) => string, type: string): string =>
  hasKey(`event.${type}`) ? t(`event.${type}` as MsgKey) : type;

/** The message's events, oldest first: each in words, with its API name (what webhooks and logs say). */
export function Timeline({ events }: { events: MessageEvent[] }) {
  const { t, lang } = useI18n();
  if (events.length === 0) return <p className="muted">{t('message.noEvents')}</p>;
  return (
    <ol className="timeline">
      {events.map((e) => {
        const s = summary(e.data);
        return (
          <li key={e.id} className={`ev ev-${e.type.replace(/[^a-z_]/gi, '')}`}>
            <div className="ev-head">
              <strong>{eventLabel(t, e.type)}</strong> <code className="ev-type">{e.type}</code>{' '}
              <time dateTime={e.at ?? undefined}>{formatDateTime(e.at, lang)}</time>
            </div>
            {s ? <div className="ev-data mono small">{s}</div> : null}
            {e.data && !s ? (
              <details>
                <summary>{t('message.eventData')}</summary>
                <pre>{JSON.stringify(e.data, null, 2)}</pre>
              </details>
            ) : null}
          </li>
        );
      })}
    </ol>
  );
}
