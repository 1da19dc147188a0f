import type { MessageSummary } from '../api-types.js';
import { useI18n } from '../i18n/context.js';
import { formatDateTime } from '../lib/format.js';
import { Link } from '../router.js';
import { StatusBadge } from './StatusBadge.js';

/** The audit list: one row per message, newest first; the subject opens the message. */
export function MessageTable({ items, showRecipient = true }: { items: MessageSummary[]; showRecipient?: boolean }) {
  const { t, lang } = useI18n();
  if (items.length === 0) return <p className="muted">{t('messages.none')}</p>;
  return (
    <div className="table-scroll">
      <table className="table messages stack">
        <thead>
          <tr>
            <th>{t('common.date')}</th>
            {showRecipient ? <th>{t('common.recipient')}</th> : null}
            <th>{t('common.subject')}</th>
            <th>{t('common.template')}</th>
            <th>{t('common.status')}</th>
          </tr>
        </thead>
        <tbody>
          {items.map((m) => (
            <tr key={m.id}>
              <td className="nowrap">{formatDateTime(m.created_at, lang)}</td>
              {showRecipient ? (
                <td className="ellipsis">
                  <Link to={`/recipients/${encodeURIComponent(m.to)}`}>{m.to}</Link>
                </td>
              ) : null}
              <td className="ellipsis subject">
                <Link to={`/messages/${m.id}`}>{m.subject || t('messages.noSubject')}</Link>
              </td>
              <td className="mono small">
                {m.template_key} <span className="muted">· {m.category}</span>
              </td>
              <td>
                <StatusBadge status={m.status} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
