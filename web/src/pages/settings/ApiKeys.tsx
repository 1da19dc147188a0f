import { type FormEvent, useState } from 'react';
import { api } from '../../api.js';
import { Async } from '../../components/Async.js';
import { ErrorNote } from '../../components/ErrorNote.js';
import { useI18n } from '../../i18n/context.js';
import { formatDateTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';

/** API keys: the token of a new key is shown once, right here, and never again. */
export function ApiKeys() {
  const { t, lang } = useI18n();
  const keys = useAsync(() => api.keys(), []);
  const [name, setName] = useState('');
  const [scope, setScope] = useState<'send' | 'admin'>('send');
  const [allowedFrom, setAllowedFrom] = useState('');
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const [error, setError] = useState<unknown>();

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const senders = allowedFrom
        .split(/[\s,]+/)
        .map((s) => s.trim())
        .filter(Boolean);
      const k = await api.createKey(name.trim(), scope, senders);
      setCreated({ name: k.name, token: k.token });
      setName('');
      setAllowedFrom('');
      keys.reload();
    } catch (err) {
      setError(err);
    }
  };
  const revoke = async (id: string, keyName: string) => {
    if (!window.confirm(t('keys.revokeConfirm', { name: keyName }))) return;
    try {
      await api.revokeKey(id);
      keys.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <>
      <form className="card inline-form" onSubmit={create}>
        <label className="field grow">
          <span>{t('keys.name')}</span>
          <input
            name="key_name"
            required
            maxLength={100}
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder={t('keys.nameHint')}
          />
        </label>
        <label className="field">
          <span>{t('keys.scope')}</span>
          <select name="key_scope" value={scope} onChange={(e) => setScope(e.target.value as 'send' | 'admin')}>
            <option value="send">{t('keys.scopeSend')}</option>
            <option value="admin">{t('keys.scopeAdmin')}</option>
          </select>
        </label>
        <label className="field grow">
          <span>{t('keys.allowedFrom')}</span>
          <input
            name="key_allowed_from"
            maxLength={5000}
            value={allowedFrom}
            onChange={(e) => setAllowedFrom(e.target.value)}
            placeholder={t('keys.allowedFromHint')}
          />
        </label>
        <button type="submit" className="primary">
          {t('keys.create')}
        </button>
      </form>
      {created ? (
        <div className="note token-once" role="status">
          <p>
            <strong>{t('keys.createdOnce', { name: created.name })}</strong>
          </p>
          <code className="token" data-testid="new-token">
            {created.token}
          </code>
          <div>
            <button type="button" onClick={() => void navigator.clipboard?.writeText(created.token)}>
              {t('keys.copy')}
            </button>{' '}
            <button type="button" className="ghost" onClick={() => setCreated(null)}>
              {t('keys.done')}
            </button>
          </div>
        </div>
      ) : null}
      <ErrorNote error={error} />
      <Async state={keys}>
        {(page) => (
          <div className="card flush table-scroll">
            <table className="table">
              <thead>
                <tr>
                  <th>{t('keys.name')}</th>
                  <th>{t('keys.scope')}</th>
                  <th>{t('keys.prefix')}</th>
                  <th>{t('keys.allowedFrom')}</th>
                  <th>{t('keys.created')}</th>
                  <th>{t('keys.lastUsed')}</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {page.items.map((k) => (
                  <tr key={k.id} className={k.revoked_at ? 'revoked' : undefined}>
                    <td>{k.name}</td>
                    <td>
                      <span className={`badge ${k.scope === 'admin' ? 'warn' : 'info'}`}>{k.scope}</span>
                    </td>
                    <td className="mono">{k.prefix}…</td>
                    <td className="small">{k.allowed_from ? k.allowed_from.join(', ') : t('keys.anyAllowed')}</td>
                    <td className="nowrap">{formatDateTime(k.created_at, lang)}</td>
                    <td className="nowrap">{formatDateTime(k.last_used_at, lang)}</td>
                    <td className="num">
                      {k.revoked_at ? (
                        <span className="muted small">
                          {t('keys.revokedAt', { date: formatDateTime(k.revoked_at, lang) })}
                        </span>
                      ) : (
                        <button
                          type="button"
                          className="danger"
                          onClick={() => revoke(k.id, k.name)}
                          aria-label={t('keys.revokeNamed', { name: k.name })}
                        >
                          {t('keys.revoke')}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Async>
    </>
  );
}
