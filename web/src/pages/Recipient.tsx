import { useState } from 'react';
import { api } from '../api.js';
import type { EraseResult } from '../api-types.js';
import { Async } from '../components/Async.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { MessageTable } from '../components/MessageTable.js';
import { Pager } from '../components/Pager.js';
import { useI18n } from '../i18n/context.js';
import { formatDateTime, formatNumber } from '../lib/format.js';
import { useAsync } from '../lib/use-async.js';
import { Link } from '../router.js';

/** Everything about one address: its messages, and whether policy blocks it (suppression, unsubscribe). */
export function RecipientPage({ email }: { email: string }) {
  const { t, lang } = useI18n();
  const [cursor, setCursor] = useState<string | undefined>();
  const messages = useAsync(() => api.messages({ to: email, limit: 50, cursor }), [email, cursor]);
  const suppressions = useAsync(
    async () => (await api.suppressions(email)).items.filter((s) => s.email.toLowerCase() === email.toLowerCase()),
    [email],
  );
  const [error, setError] = useState<unknown>();
  const [erase, setErase] = useState<{ busy?: boolean; error?: unknown; done?: EraseResult }>({});

  const eraseRecipient = async () => {
    if (!window.confirm(t('recipient.eraseConfirm', { email }))) return;
    setErase({ busy: true });
    try {
      const done = await api.eraseRecipient(email);
      setErase({ done });
      messages.reload();
    } catch (e) {
      setErase({ error: e });
    }
  };

  const remove = async () => {
    if (!window.confirm(t('recipient.removeConfirm', { email }))) return;
    setError(undefined);
    try {
      await api.removeSuppression(email);
      suppressions.reload();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section>
      <p className="crumbs">
        <Link to="/messages">← {t('nav.messages')}</Link>
      </p>
      <h1 className="mono-title">{email}</h1>
      <div className="card">
        <h2>{t('recipient.policy')}</h2>
        <Async state={suppressions} what={t('recipient.suppressionApi')}>
          {(items) =>
            items.length === 0 ? (
              <p className="ok-text">{t('recipient.notSuppressed')}</p>
            ) : (
              <>
                <ul className="plain">
                  {items.map((s) => (
                    <li key={s.id}>
                      <span className={`badge ${s.reason === 'unsubscribe' ? 'warn' : 'bad'}`}>{s.reason}</span>{' '}
                      {t('recipient.since', { date: formatDateTime(s.created_at, lang) })}
                      {s.scope !== 'all' ? (
                        <span className="muted small">
                          {' '}
                          · {t('suppressions.scope')}: {s.scope}
                        </span>
                      ) : null}
                      {s.source ? <span className="muted small"> · {s.source}</span> : null}
                    </li>
                  ))}
                </ul>
                <button type="button" className="danger" onClick={remove}>
                  {t('recipient.remove')}
                </button>
              </>
            )
          }
        </Async>
        <ErrorNote error={error} />
      </div>
      <div className="card">
        <h2>{t('recipient.erase')}</h2>
        <p className="muted small">{t('recipient.eraseHint')}</p>
        <button type="button" className="danger" onClick={eraseRecipient} disabled={erase.busy}>
          {t('recipient.eraseButton')}
        </button>
        {erase.done ? (
          <p className="ok-text" role="status">
            {t('recipient.erased', {
              messages: erase.done.messages,
              attachments: erase.done.attachments,
              cancelled: erase.done.cancelled,
            })}
          </p>
        ) : null}
        <ErrorNote error={erase.error} />
      </div>
      <Async state={messages}>
        {(page) => (
          <div className="card flush">
            <p className="list-meta">{t('messages.count', { n: formatNumber(page.total, lang), count: page.total })}</p>
            <MessageTable items={page.items} showRecipient={false} />
            <Pager
              onFirst={cursor ? () => setCursor(undefined) : undefined}
              onNext={page.next_cursor ? () => setCursor(page.next_cursor!) : undefined}
            />
          </div>
        )}
      </Async>
    </section>
  );
}
