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
          {secret ? <SecretOnce secret={secret} /> : null}
          <ErrorNote error={error} />
          {page.items.length === 0 ? <p className="muted">{t('webhooks.none')}</p> : null}
          {page.items.map((w) => (
            <Endpoint key={w.id} w={w} onChanged={list.reload} onDelete={() => remove(w)} />
          ))}
        </>
      )}
    </Async>
  );
}

/** A secret shown once (at creation or rotation), with a button to copy it. */
function SecretOnce({ secret }: { secret: string }) {
  const { t } = useI18n();
  const [copied, setCopied] = useState(false);
  return (
    <div className="note token-once" role="status">
      <strong>{t('webhooks.secretOnce')}</strong> <code className="token">{secret}</code>{' '}
      <button
        type="button"
        className="ghost"
        onClick={() =>
          navigator.clipboard?.writeText(secret).then(
            () => setCopied(true),
            () => setCopied(false),
          )
        }
      >
        {copied ? t('webhooks.copied') : t('webhooks.copy')}
      </button>
    </div>
  );
}

/** One endpoint: edit it, pause or resume it, send it a test event, rotate its secret, see and retry its deliveries. */
function Endpoint({ w, onChanged, onDelete }: { w: Webhook; onChanged: () => void; onDelete: () => void }) {
  const { t } = useI18n();
  const [editing, setEditing] = useState(false);
  const [form, setForm] = useState({ url: w.url, description: w.description, events: w.event_types });
  const [error, setError] = useState<unknown>();
  const [note, setNote] = useState<string | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [deliveriesTick, setDeliveriesTick] = useState(0);
  const run = async (fn: () => Promise<unknown>, after?: string) => {
    setError(undefined);
    setNote(null);
    try {
      await fn();
      if (after) setNote(after);
      setDeliveriesTick((n) => n + 1);
      onChanged();
    } catch (e) {
      setError(e);
    }
  };
  const save = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await api.updateWebhook(w.id, {
        url: form.url.trim(),
        description: form.description,
        event_types: form.events as (typeof EVENTS)[number][],
      });
      setEditing(false);
    });
  };
  return (
    <div className="card webhook" data-active={w.is_active}>
      <div className="page-head">
        <div>
          <div className="mono">{w.url}</div>
          <div className="muted small">
            {w.event_types.map((ev) => eventLabel(t, ev)).join(', ')}{' '}
            {w.is_active ? (
              <span className="badge ok">{t('webhooks.active')}</span>
            ) : (
              <span className="badge muted">{t('webhooks.paused')}</span>
            )}
            {!w.is_active && w.paused_reason ? (
              <span className="paused-reason warn-text">
                {' '}
                {t('webhooks.pausedReason', { reason: w.paused_reason })}
              </span>
            ) : null}
          </div>
          {w.description ? <div className="small">{w.description}</div> : null}
          {w.is_active ? null : (
            <div className="small warn-text">
              {t(w.paused_reason ? 'webhooks.pausedGoneHint' : 'webhooks.pausedHint')}
            </div>
          )}
        </div>
        <div className="actions">
          <button type="button" onClick={() => setEditing(!editing)} aria-expanded={editing}>
            {t('webhooks.edit')}
          </button>
          <button type="button" onClick={() => run(() => api.updateWebhook(w.id, { is_active: !w.is_active }))}>
            {w.is_active ? t('webhooks.pause') : t('webhooks.resume')}
          </button>
          <button
            type="button"
            disabled={!w.is_active}
            onClick={() => run(() => api.testWebhook(w.id), t('webhooks.testSent'))}
          >
            {t('webhooks.test')}
          </button>
          <button
            type="button"
            onClick={() =>
              window.confirm(t('webhooks.rotateConfirm')) &&
              run(async () => setSecret((await api.rotateWebhookSecret(w.id)).secret))
            }
          >
            {t('webhooks.rotate')}
          </button>
          <button type="button" className="danger" onClick={onDelete}>
            {t('webhooks.delete')}
          </button>
        </div>
      </div>
      {editing ? (
        <form className="webhook-edit" onSubmit={save}>
          <div className="form-grid">
            <label className="field">
              <span>{t('webhooks.url')}</span>
              <input
                type="url"
                name="edit_url"
                required
                value={form.url}
                onChange={(e) => setForm({ ...form, url: e.target.value })}
              />
            </label>
            <label className="field">
              <span>{t('webhooks.description')}</span>
              <input
                name="edit_description"
                value={form.description}
                onChange={(e) => setForm({ ...form, description: e.target.value })}
              />
            </label>
          </div>
          <fieldset className="checks">
            <legend>{t('webhooks.events')}</legend>
            {EVENTS.map((ev) => (
              <label key={ev}>
                <input
                  type="checkbox"
                  checked={form.events.includes(ev)}
                  onChange={(e) =>
                    setForm({
                      ...form,
                      events: e.target.checked ? [...form.events, ev] : form.events.filter((x) => x !== ev),
                    })
                  }
                />{' '}
                {eventLabel(t, ev)}
              </label>
            ))}
          </fieldset>
          <div className="actions">
            <button type="submit" className="primary" disabled={form.events.length === 0}>
              {t('webhooks.save')}
            </button>
            <button type="button" className="ghost" onClick={() => setEditing(false)}>
              {t('webhooks.cancelEdit')}
            </button>
          </div>
        </form>
      ) : null}
      {secret ? <SecretOnce secret={secret} /> : null}
      {note ? (
        <p className="ok-text small" role="status">
          {note}
        </p>
      ) : null}
      <ErrorNote error={error} />
      <Deliveries id={w.id} tick={deliveriesTick} onRetry={(d) => run(() => api.retryWebhookDelivery(w.id, d))} />
    </div>
  );
}

function Deliveries({ id, tick, onRetry }: { id: string; tick: number; onRetry: (deliveryId: string) => void }) {
  const { t, lang } = useI18n();
  const list = useAsync(() => api.webhookDeliveries(id), [id, tick]);
  return (
    <details>
      <summary>{t('webhooks.deliveries')}</summary>
      <button type="button" className="ghost small" onClick={() => list.reload()}>
        {t('common.refresh')}
      </button>
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
                  <th />
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
                    <td>
                      {d.status === 'failed' ? (
                        <button type="button" onClick={() => onRetry(d.id)}>
                          {t('webhooks.retry')}
                        </button>
                      ) : null}
                    </td>
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
