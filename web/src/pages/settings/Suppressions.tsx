import { type FormEvent, useState } from 'react';
import { api } from '../../api.js';
import { Async } from '../../components/Async.js';
import { ErrorNote } from '../../components/ErrorNote.js';
import { useI18n } from '../../i18n/context.js';
import { formatDateTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { Link } from '../../router.js';

export function Suppressions() {
  const { t, lang } = useI18n();
  const list = useAsync(() => api.suppressions(), []);
  const [email, setEmail] = useState('');
  const [error, setError] = useState<unknown>();
  const run = async (fn: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await fn();
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  const add = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await api.addSuppression(email.trim());
      setEmail('');
    });
  };
  return (
    <Async state={list} what={t('settings.suppressionsApi')}>
      {(page) => (
        <>
          <form className="card inline-form" onSubmit={add}>
            <label className="field grow">
              <span>{t('suppressions.add')}</span>
              <input
                type="email"
                name="suppress_email"
                required
                value={email}
                onChange={(e) => setEmail(e.target.value)}
                placeholder="name@example.com"
              />
            </label>
            <button type="submit">{t('suppressions.addButton')}</button>
          </form>
          <ErrorNote error={error} />
          <div className="card flush table-scroll">
            {page.items.length === 0 ? <p className="muted pad">{t('suppressions.none')}</p> : null}
            {page.items.length ? (
              <table className="table">
                <thead>
                  <tr>
                    <th>{t('common.recipient')}</th>
                    <th>{t('suppressions.reason')}</th>
                    <th>{t('suppressions.scope')}</th>
                    <th>{t('common.date')}</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((s) => (
                    <tr key={s.id}>
                      <td>
                        <Link to={`/recipients/${encodeURIComponent(s.email)}`}>{s.email}</Link>
                      </td>
                      <td>
                        {s.reason}
                        {s.source ? <span className="muted small"> · {s.source}</span> : null}
                      </td>
                      <td>{s.scope}</td>
                      <td className="nowrap">{formatDateTime(s.created_at, lang)}</td>
                      <td className="num">
                        <button
                          type="button"
                          className="danger"
                          onClick={() =>
                            window.confirm(t('recipient.removeConfirm', { email: s.email })) &&
                            run(() => api.removeSuppressionById(s.id))
                          }
                        >
                          {t('suppressions.remove')}
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </div>
        </>
      )}
    </Async>
  );
}
