import { type FormEvent, useState } from 'react';
import { ApiError, api } from '../api.js';
import { LangSwitch } from '../components/Layout.js';
import { useT } from '../i18n/context.js';
import { setToken } from '../session.js';

/** Asks for an admin token and checks it against the API before keeping it for the session. */
export function Login() {
  const t = useT();
  const [token, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.checkToken(token.trim());
      setToken(token.trim());
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? t('login.invalid')
          : err instanceof ApiError && err.status === 403
            ? t('login.notAdmin')
            : err instanceof ApiError && err.code === 'too_many_failed_logins'
              ? t('login.locked', { n: Math.max(1, Math.ceil((err.retryAfterSeconds ?? 60) / 60)) })
              : String(err instanceof Error ? err.message : err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login" id="main">
      <form onSubmit={submit} className="card login-card">
        <div className="login-head">
          <h1>
            <span className="logo" aria-hidden="true">
              ✉
            </span>{' '}
            Postier
          </h1>
          <LangSwitch />
        </div>
        <p className="muted">{t('login.intro')}</p>
        <label className="field">
          <span>{t('login.token')}</span>
          <input
            type="password"
            autoComplete="current-password"
            value={token}
            onChange={(e) => setValue(e.target.value)}
            required
            name="token"
          />
        </label>
        {error ? (
          <div className="note error" role="alert">
            {error}
          </div>
        ) : null}
        <button type="submit" className="primary" disabled={busy || !token.trim()}>
          {t('login.submit')}
        </button>
        <p className="muted small">{t('login.hint')}</p>
      </form>
    </main>
  );
}
