import { type FormEvent, useState } from 'react';
import { api } from '../../api.js';
import { WEBHOOK_EVENT_TYPES, type Webhook } from '../../api-types.js';
import { Async } from '../../components/Async.js';
import { ErrorNote } from '../../components/ErrorNote.js';
import { eventLabel } from '../../components/Timeline.js';
import { useI18n } from '../../i18n/context.js';
import { hasKey, type MsgKey } from '../../i18n/index.js';
import { formatDateTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';

const EVENTS = WEBHOOK_EVENT_TYPES;

export function Webhooks() {
  const { t } = useI18n();
  const list = useAsync(() => api.webhooks(), []);
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<string[]>(['delivered', 'bounced', 'complaint', 'failed']);
  const [error, setError] = useState<unknown>();
  const [secret, setSecret] = useState<string | null>(null);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const w = await api.createWebhook(url.trim(), events);
      setSecret(w.secret ?? null);
      setUrl('');
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (w: Webhook) => {
    if (!window.confirm(t('webhooks.deleteConfirm', { url: w.url }))) return;
    try {
      await api.deleteWebhook(w.id);
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Async state={list} what={t('settings.webhooksApi')}>
      {(page) => (
        <>
          <form className="card" onSubmit={create}>
            <div className="inline-form">
              <label className="field grow">
                <span>{t('webhooks.url')}</span>
                <input
                  type="url"
                  name="webhook_url"
                  required
                  value={url}
                  onChange={(e) => setUrl(e.target.value)}
                  placeholder="https://example.com/hooks/postier"
                />
              </label>
              <button type="submit">{t('webhooks.add')}</button>
            </div>
            <fieldset className="checks">
              <legend>{t('webhooks.events')}</legend>
              {EVENTS.map((ev) => (
                <label key={ev}>
                  <input
                    type="checkbox"
                    checked={events.includes(ev)}
                    onChange={(e) => setEvents(e.target.checked ? [...events, ev] : events.filter((x) => x !== ev))}
                  />{' '}
                  {eventLabel(t, ev)} <code className="muted small">{ev}</code>
                </label>
              ))}
            </fieldset>
          </form>
          {secret ? (
            <div className="note token-once" role="status">
              <strong>{t('webhooks.secretOnce')}</strong> <code className="token">{secret}</code>
            </div>
          ) : null}
          <ErrorNote error={error} />
          {page.items.length === 0 ? <p className="muted">{t('webhooks.none')}</p> : null}
          {page.items.map((w) => (
            <div className="card" key={w.id}>
              <div className="page-head">
                <div>
                  <div className="mono">{w.url}</div>
                  <div className="muted small">
                    {w.event_types.map((ev) => eventLabel(t, ev)).join(', ')}
                    {w.is_active ? null : <span className="badge muted">{t('webhooks.inactive')}</span>}
                  </div>
                  {w.description ? <div className="small">{w.description}</div> : null}
                </div>
                <button type="button" className="danger" onClick={() => remove(w)}>
                  {t('webhooks.delete')}
                </button>
              </div>
              <Deliveries id={w.id} />
            </div>
          ))}
        </>
      )}
    </Async>
  );
}

function Deliveries({ id }: { id: string }) {
  const { t, lang } = useI18n();
  const list = useAsync(() => api.webhookDeliveries(id), [id]);
  return (
    <details>
      <summary>{t('webhooks.deliveries')}</summary>
      <Async state={list}>
        {(page) =>
          page.items.length === 0 ? (
            <p className="muted small">{t('webhooks.noDeliveries')}</p>
          ) : (
            <table className="table compact">
              <thead>
                <tr>
                  <th>{t('common.date')}</th>
                  <th>{t('webhooks.event')}</th>
                  <th>{t('common.status')}</th>
                  <th className="num">{t('message.attempts')}</th>
                  <th>HTTP</th>
                  <th>{t('message.error')}</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((d) => (
                  <tr key={d.id}>
                    <td className="nowrap">{formatDateTime(d.created_at, lang)}</td>
                    <td>{eventLabel(t, d.event_type)}</td>
                    <td>{hasKey(`webhookStatus.${d.status}`) ? t(`webhookStatus.${d.status}` as MsgKey) : d.status}</td>
                    <td className="num">{t('webhooks.attempts', { n: d.attempts })}</td>
                    <td className="mono">{d.last_status_code ?? ''}</td>
                    <td className="reason">{d.last_error ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
    </details>
  );
}
