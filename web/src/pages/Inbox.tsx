import { useCallback, useEffect, useState } from 'react';
import { api } from '../api.js';
import type { InboxMessage, InboxSummary } from '../api-types.js';
import { Async } from '../components/Async.js';
import { HtmlCheckView, LinkList, SpamReportView } from '../components/ContentChecks.js';
import { EmailFrame } from '../components/EmailFrame.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { TabPanel, Tabs, useTabsBase } from '../components/Tabs.js';
import { useI18n } from '../i18n/context.js';
import { saveBlob } from '../lib/download.js';
import { formatBytes, formatDateTime } from '../lib/format.js';
import { useAsync } from '../lib/use-async.js';
import { useDebounced } from '../lib/use-debounced.js';
import { Link, navigate } from '../router.js';

const VIEWS = ['html', 'text', 'headers', 'source', 'links', 'htmlcheck', 'spam'] as const;
const list = (v: string | string[]) => (Array.isArray(v) ? v.join(', ') : v);

/** The inbox's pages so far: the first one reloads on a search or a live change; "More" adds the next. */
function useInbox(q: string) {
  const [items, setItems] = useState<InboxSummary[]>([]);
  const [total, setTotal] = useState(0);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [loaded, setLoaded] = useState(false);
  const reload = useCallback(() => {
    api.inbox({ q: q || undefined }).then(
      (p) => {
        setItems(p.items);
        setTotal(p.total);
        setNext(p.next_cursor ?? null);
        setError(undefined);
        setLoaded(true);
      },
      (e: unknown) => {
        setError(e);
        setLoaded(true);
      },
    );
  }, [q]);
  useEffect(reload, [reload]);
  const more = () =>
    next &&
    api.inbox({ q: q || undefined, cursor: next }).then((p) => {
      setItems((all) => [...all, ...p.items]);
      setNext(p.next_cursor ?? null);
    }, setError);
  return { items, total, next, error, loaded, reload, more };
}

/** Server-sent events: the inbox changed (new mail, deletions); `live` while the stream is open. */
function useInboxEvents(onChange: () => void): boolean {
  const [live, setLive] = useState(false);
  useEffect(() => {
    const abort = new AbortController();
    let first = true;
    let stopped = false;
    const connect = async () => {
      while (!stopped) {
        try {
          await api.inboxEvents(() => {
            setLive(true);
            // The first event is the state at connection time: the list was just loaded.
            if (!first) onChange();
            first = false;
          }, abort.signal);
        } catch {
          // An older server, a restart, a lost connection: say so, try again in a while.
        }
        setLive(false);
        if (!stopped) await new Promise((r) => setTimeout(r, 5000));
      }
    };
    void connect();
    return () => {
      stopped = true;
      abort.abort();
    };
  }, [onChange]);
  return live;
}

/** Mail caught by the embedded capture SMTP server, like Mailpit: search, pages, live updates, delete, read. */
export function InboxPage({ selected }: { selected?: string }) {
  const { t, lang } = useI18n();
  const [search, setSearch] = useState('');
  const q = useDebounced(search.trim(), 250);
  const inbox = useInbox(q);
  const live = useInboxEvents(inbox.reload);
  const [checked, setChecked] = useState<Set<string>>(new Set());
  const [error, setError] = useState<unknown>();
  const run = async (fn: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await fn();
      setChecked(new Set());
      inbox.reload();
    } catch (e) {
      setError(e);
    }
  };
  const toggle = (id: string, on: boolean) =>
    setChecked((s) => {
      const n = new Set(s);
      if (on) n.add(id);
      else n.delete(id);
      return n;
    });
  return (
    <section>
      <div className="page-head">
        <h1>{t('nav.inbox')}</h1>
        <div className="actions">
          <span className={`badge ${live ? 'ok' : 'muted'}`} role="status">
            {live ? t('inbox.live') : t('inbox.notLive')}
          </span>
          <button type="button" className="ghost" onClick={inbox.reload}>
            {t('common.refresh')}
          </button>
          <button
            type="button"
            className="danger"
            disabled={checked.size === 0}
            onClick={() =>
              window.confirm(t('inbox.deleteSelectedConfirm', { n: checked.size })) &&
              run(async () => {
                await api.deleteInboxMails([...checked]);
                if (selected && checked.has(selected)) navigate('/inbox');
              })
            }
          >
            {t('inbox.deleteSelected', { n: checked.size })}
          </button>
          <button
            type="button"
            className="danger"
            onClick={() =>
              window.confirm(t('inbox.clearConfirm')) &&
              run(async () => {
                await api.clearInbox();
                navigate('/inbox');
              })
            }
          >
            {t('inbox.clear')}
          </button>
        </div>
      </div>
      <label className="field inbox-search">
        <span>{t('inbox.search')}</span>
        <input
          type="search"
          name="inbox_search"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          placeholder={t('inbox.searchHint')}
        />
      </label>
      <ErrorNote error={error ?? inbox.error} />
      {!inbox.loaded ? (
        <p className="muted" aria-busy="true">
          {t('common.loading')}
        </p>
      ) : (
        <div className={`inbox ${selected ? 'has-selection' : ''}`}>
          <div className="inbox-column">
            <p className="muted small">{t('inbox.count', { n: inbox.total })}</p>
            <ul className="inbox-list card flush" aria-label={t('nav.inbox')}>
              {inbox.items.length === 0 ? <li className="muted pad">{t('inbox.empty')}</li> : null}
              {inbox.items.map((m) => (
                <li key={m.id} className={m.id === selected ? 'current' : undefined}>
                  <input
                    type="checkbox"
                    className="inbox-check"
                    aria-label={t('inbox.select', { subject: m.subject })}
                    checked={checked.has(m.id)}
                    onChange={(e) => toggle(m.id, e.target.checked)}
                  />
                  <Link to={`/inbox/${m.id}`} aria-current={m.id === selected ? 'true' : undefined}>
                    <span className="inbox-to">{list(m.to)}</span>
                    <span className="inbox-subject">{m.subject}</span>
                    <span className="muted small">{formatDateTime(m.received_at ?? m.date, lang)}</span>
                  </Link>
                </li>
              ))}
            </ul>
            {inbox.next ? (
              <button type="button" className="ghost" onClick={() => void inbox.more()}>
                {t('inbox.more')}
              </button>
            ) : null}
          </div>
          {selected ? (
            <InboxMail
              id={selected}
              onDeleted={() => {
                navigate('/inbox');
                inbox.reload();
              }}
            />
          ) : (
            <p className="muted inbox-hint">{t('inbox.pick')}</p>
          )}
        </div>
      )}
    </section>
  );
}

function InboxMail({ id, onDeleted }: { id: string; onDeleted: () => void }) {
  const { t, lang } = useI18n();
  const mail = useAsync(() => api.inboxMessage(id), [id]);
  const [view, setView] = useState<(typeof VIEWS)[number]>('html');
  const tabs = useTabsBase();
  const [error, setError] = useState<unknown>();
  const raw = useAsync(
    async () => (view === 'source' && mail.data && !mail.data.masked ? api.inboxRaw(id) : null),
    [id, view, mail.data?.masked],
  );
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
              <div className="actions">
                {m.archived_message_id ? (
                  <Link to={`/messages/${m.archived_message_id}`}>{t('inbox.archived')}</Link>
                ) : null}
                <button
                  type="button"
                  className="ghost"
                  disabled={m.masked}
                  onClick={() => api.inboxEml(id).then((b) => saveBlob(b, `${id}.eml`), setError)}
                >
                  {t('inbox.eml')}
                </button>
                <button
                  type="button"
                  className="danger"
                  onClick={() =>
                    window.confirm(t('inbox.deleteConfirm')) && api.deleteInboxMail(id).then(onDeleted, setError)
                  }
                >
                  {t('inbox.delete')}
                </button>
              </div>
              {m.masked ? (
                <p className="note small" role="note">
                  {t('inbox.masked')}
                </p>
              ) : null}
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
              ) : view === 'links' ? (
                <LinkList links={m.links} />
              ) : view === 'htmlcheck' ? (
                <HtmlCheckView id={id} load={() => api.inboxHtmlCheck(id)} />
              ) : view === 'spam' ? (
                <SpamCheck id={id} />
              ) : m.masked ? (
                <p className="muted pad">{t('inbox.sourceMasked')}</p>
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

/** SpamAssassin's score of the mail and the rules that fired (when the server has a spamd). */
function SpamCheck({ id }: { id: string }) {
  const { t } = useI18n();
  const check = useAsync(() => api.inboxSpam(id), [id]);
  return (
    <div className="pad spam-check">
      <Async state={check}>
        {(c) =>
          !c.available ? (
            <p className="muted">{t('inbox.spamUnavailable', { reason: c.reason ?? '' })}</p>
          ) : (
            <SpamReportView
              report={{
                score: c.score ?? 0,
                threshold: c.threshold ?? 0,
                is_spam: c.is_spam ?? false,
                rules: c.rules ?? [],
              }}
            />
          )
        }
      </Async>
    </div>
  );
}
