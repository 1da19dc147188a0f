import { useState } from 'react';
import { api } from '../api.js';
import type { InboxMessage } from '../api-types.js';
import { Async } from '../components/Async.js';
import { EmailFrame } from '../components/EmailFrame.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { TabPanel, Tabs, useTabsBase } from '../components/Tabs.js';
import { saveBlob } from '../lib/download.js';
import { useI18n } from '../i18n/context.js';
import { formatBytes, formatDateTime } from '../lib/format.js';
import { useAsync } from '../lib/use-async.js';
import { Link, navigate } from '../router.js';

const VIEWS = ['html', 'text', 'headers', 'source'] as const;
const list = (v: string | string[]) => (Array.isArray(v) ? v.join(', ') : v);

/** Empties the capture inbox (after a confirmation). */
function ClearInbox({ onCleared }: { onCleared: () => void }) {
  const { t } = useI18n();
  const [error, setError] = useState<unknown>();
  const clear = async () => {
    if (!window.confirm(t('inbox.clearConfirm'))) return;
    setError(undefined);
    try {
      await api.clearInbox();
      navigate('/inbox');
      onCleared();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <>
      <button type="button" className="danger" onClick={clear}>
        {t('inbox.clear')}
      </button>
      <ErrorNote error={error} />
    </>
  );
}

/** Mail caught by the embedded capture SMTP server, like Mailpit: the list, and each mail rendered or as source. */
export function InboxPage({ selected }: { selected?: string }) {
  const { t, lang } = useI18n();
  const inbox = useAsync(() => api.inbox(), []);
  return (
    <section>
      <div className="page-head">
        <h1>{t('nav.inbox')}</h1>
        <div className="actions">
          <button type="button" className="ghost" onClick={inbox.reload}>
            {t('common.refresh')}
          </button>
          <ClearInbox onCleared={inbox.reload} />
        </div>
      </div>
      <Async state={inbox} what={t('inbox.api')}>
        {(page) => (
          <div className={`inbox ${selected ? 'has-selection' : ''}`}>
            <ul className="inbox-list card flush" aria-label={t('nav.inbox')}>
              {page.items.length === 0 ? <li className="muted pad">{t('inbox.empty')}</li> : null}
              {page.items.map((m) => (
                <li key={m.id} className={m.id === selected ? 'current' : undefined}>
                  <Link to={`/inbox/${m.id}`} aria-current={m.id === selected ? 'true' : undefined}>
                    <span className="inbox-to">{list(m.to)}</span>
                    <span className="inbox-subject">{m.subject}</span>
                    <span className="muted small">{formatDateTime(m.received_at ?? m.date, lang)}</span>
                  </Link>
                </li>
              ))}
            </ul>
            {selected ? <InboxMail id={selected} /> : <p className="muted inbox-hint">{t('inbox.pick')}</p>}
          </div>
        )}
      </Async>
    </section>
  );
}

function InboxMail({ id }: { id: string }) {
  const { t, lang } = useI18n();
  const mail = useAsync(() => api.inboxMessage(id), [id]);
  const [view, setView] = useState<(typeof VIEWS)[number]>('html');
  const tabs = useTabsBase();
  const [error, setError] = useState<unknown>();
  const raw = useAsync(async () => (view === 'source' ? api.inboxRaw(id) : null), [id, view]);
  return (
    <div className="card flush inbox-mail">
      <Async state={mail}>
        {(m: InboxMessage) => (
          <>
            <div className="pad">
              <p className="crumbs mobile-only">
                <Link to="/inbox">← {t('nav.inbox')}</Link>
              </p>
              <h2>{m.subject}</h2>
              <p className="small">
                <span className="muted">{t('headers.from')}:</span> {m.from} ·{' '}
                <span className="muted">{t('headers.to')}:</span> {list(m.to)} · {formatDateTime(m.date, lang)}
              </p>
              {m.attachments.length ? (
                <ul className="plain small">
                  {m.attachments.map((a) => (
                    <li key={a.index}>
                      <button
                        type="button"
                        className="link"
                        onClick={() =>
                          api
                            .inboxAttachment(id, a.index)
                            .then((b) => saveBlob(b, a.filename ?? `attachment-${a.index}`), setError)
                        }
                      >
                        📎 {a.filename ?? `attachment-${a.index}`}
                      </button>{' '}
                      <span className="muted">
                        {a.content_type} · {formatBytes(a.size)}
                      </span>
                    </li>
                  ))}
                </ul>
              ) : null}
              <ErrorNote error={error} />
            </div>
            <Tabs
              base={tabs}
              label={t('inbox.views')}
              items={VIEWS.map((v) => ({ id: v, label: t(`inbox.view.${v}`) }))}
              selected={view}
              onSelect={setView}
            />
            <TabPanel base={tabs} selected={view}>
              {view === 'html' ? (
                m.html ? (
                  <EmailFrame html={m.html} title={m.subject} height={640} />
                ) : (
                  <p className="muted pad">{t('inbox.noHtml')}</p>
                )
              ) : view === 'text' ? (
                <pre className="text-part">{m.text ?? ''}</pre>
              ) : view === 'headers' ? (
                <pre className="text-part">{m.headers.map((h) => h.line).join('\n')}</pre>
              ) : (
                <Async state={raw}>
                  {(r) => (r === null ? <p className="muted pad">…</p> : <pre className="text-part source">{r}</pre>)}
                </Async>
              )}
            </TabPanel>
          </>
        )}
      </Async>
    </div>
  );
}
