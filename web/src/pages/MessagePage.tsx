import { useEffect, useState } from 'react';
import { api, isNotAvailable } from '../api.js';
import type { Feedback, Message, MessageRecipient, MessageStatus } from '../api-types.js';
import { Async } from '../components/Async.js';
import { MessageChecks } from '../components/ContentChecks.js';
import { EmailFrame } from '../components/EmailFrame.js';
import { FeedbackReports } from '../components/FeedbackReports.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { StatusBadge } from '../components/StatusBadge.js';
import { TabPanel, Tabs, useTabsBase } from '../components/Tabs.js';
import { Timeline } from '../components/Timeline.js';
import { useI18n } from '../i18n/context.js';
import type { MsgKey } from '../i18n/index.js';
import { saveBlob } from '../lib/download.js';
import { formatBytes, formatDateTime } from '../lib/format.js';
import { scheduledFor } from '../lib/scheduled.js';
import { useAsync } from '../lib/use-async.js';
import { Link, navigate } from '../router.js';

/** Statuses from which an operator may act (the server has the last word). */
const RETRYABLE: MessageStatus[] = ['failed'];
const CANCELLABLE: MessageStatus[] = ['scheduled', 'queued'];
/** Resending makes a new message; pointless while this one may still go out. */
const NOT_RESENDABLE: MessageStatus[] = ['scheduled', 'queued', 'sending'];
/** Statuses that change on their own soon: the page follows them. */
const MOVING: MessageStatus[] = ['queued', 'sending'];
const FOLLOW_MS = 2000;

export function MessagePage({ id }: { id: string }) {
  const { t } = useI18n();
  const state = useAsync(() => api.message(id), [id]);
  // A queued or sending message (after a retry, say) is followed until it settles.
  const moving = state.data ? MOVING.includes(state.data.status) : false;
  const { reload } = state;
  useEffect(() => {
    if (!moving) return;
    const timer = setInterval(reload, FOLLOW_MS);
    return () => clearInterval(timer);
  }, [moving, reload]);
  return (
    <section>
      <p className="crumbs">
        <Link to="/messages">← {t('nav.messages')}</Link>
      </p>
      <Async state={state}>{(m) => <MessageView m={m} reload={state.reload} />}</Async>
    </section>
  );
}

function MessageView({ m, reload }: { m: Message; reload: () => void }) {
  const { t, lang } = useI18n();
  const [view, setView] = useState<'html' | 'text'>(m.html_content ? 'html' : 'text');
  const tabs = useTabsBase();
  const [actionError, setActionError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const act = async (fn: () => Promise<unknown>) => {
    setActionError(undefined);
    setBusy(true);
    try {
      await fn();
      reload();
    } catch (e) {
      setActionError(isNotAvailable(e) ? new Error(t('common.notAvailable')) : e);
    } finally {
      setBusy(false);
    }
  };
  const { suppression, permanent_failure: permanent } = m.advice;
  const resend = () =>
    window.confirm(
      suppression
        ? t('message.resendSuppressed', { to: m.to, reason: suppression.reason })
        : t('message.resendConfirm', { to: m.to }),
    ) &&
    act(async () => {
      const r = await api.resendMessage(m.id);
      navigate(`/messages/${r.id}`);
    });
  const headers: [string, string][] = [
    [t('headers.from'), m.from ?? '—'],
    [t('headers.to'), m.to],
    ...(m.cc.length ? [[t('headers.cc'), m.cc.join(', ')] as [string, string]] : []),
    ...(m.bcc.length ? [[t('headers.bcc'), m.bcc.join(', ')] as [string, string]] : []),
    [t('headers.replyTo'), m.reply_to ?? '—'],
    [t('headers.subject'), m.subject],
    [t('headers.messageId'), m.smtp_message_id],
  ];
  const details: [string, string][] = [
    [t('common.template'), `${m.template_key} v${m.template_version} · ${m.locale}`],
    [t('common.category'), `${m.category} · ${m.class}`],
    [t('message.created'), formatDateTime(m.created_at, lang)],
    ...(m.resent_from_id ? [[t('message.resentFrom'), m.resent_from_id] as [string, string]] : []),
    ...(m.anonymized_at ? [[t('message.anonymized'), formatDateTime(m.anonymized_at, lang)] as [string, string]] : []),
    [t('message.sent'), formatDateTime(m.sent_at, lang)],
    [t('message.delivered'), formatDateTime(m.delivered_at, lang)],
    [t('message.attempts'), `${m.attempts} / ${m.max_attempts}`],
    ...(m.next_attempt_at && (m.status === 'queued' || m.status === 'sending')
      ? [[t('message.nextAttempt'), formatDateTime(m.next_attempt_at, lang)] as [string, string]]
      : []),
    ...(m.smtp_response ? [[t('message.smtpResponse'), m.smtp_response] as [string, string]] : []),
    ...(m.bounce_type
      ? [[t('message.bounce'), [m.bounce_type, m.bounce_subtype].filter(Boolean).join(' / ')] as [string, string]]
      : []),
    ...(m.bounce_category
      ? [[t('message.bounceCategory'), t(`feedback.category.${m.bounce_category}` as MsgKey)] as [string, string]]
      : []),
    ...(m.error_message ? [[t('message.error'), m.error_message] as [string, string]] : []),
  ];

  return (
    <>
      <div className="page-head">
        <h1 className="subject-title">{m.subject}</h1>
        <div className="actions">
          <StatusBadge status={m.status} scheduledFor={scheduledFor(m, Date.now())} />
          {m.is_test ? <span className="badge muted">{t('message.test')}</span> : null}
          {RETRYABLE.includes(m.status) ? (
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                (!permanent ||
                  window.confirm(
                    t('message.retryPermanent', { reply: permanent.response ?? String(permanent.code) }),
                  )) &&
                act(() => api.retryMessage(m.id))
              }
            >
              {t('message.retry')}
            </button>
          ) : null}
          {CANCELLABLE.includes(m.status) ? (
            <button
              type="button"
              className="danger"
              disabled={busy}
              onClick={() => window.confirm(t('message.cancelConfirm')) && act(() => api.cancelMessage(m.id))}
            >
              {t('message.cancel')}
            </button>
          ) : null}
          {!NOT_RESENDABLE.includes(m.status) && !m.anonymized_at ? (
            <button type="button" disabled={busy} onClick={resend}>
              {t('message.resend')}
            </button>
          ) : null}
        </div>
      </div>
      <ErrorNote error={actionError} />
      {suppression ? (
        <div className="note warn advice" role="note">
          {t('message.adviceSuppressed', {
            to: m.to,
            reason: suppression.reason,
            since: formatDateTime(suppression.created_at, lang),
          })}{' '}
          <Link to={`/recipients/${encodeURIComponent(m.to)}`}>{t('message.adviceLift')}</Link>
        </div>
      ) : null}
      {permanent && RETRYABLE.includes(m.status) ? (
        <div className="note warn advice" role="note">
          {t('message.advicePermanent', { reply: permanent.response ?? String(permanent.code) })}
        </div>
      ) : null}
      <div className="split">
        <div className="main-column">
          <div className="card flush">
            <Tabs
              base={tabs}
              label={t('message.body')}
              items={[
                { id: 'html', label: 'HTML', disabled: !m.html_content },
                { id: 'text', label: t('message.text') },
              ]}
              selected={view}
              onSelect={setView}
            />
            <TabPanel base={tabs} selected={view}>
              {view === 'html' && m.html_content ? (
                <EmailFrame html={m.html_content} title={t('message.htmlPreview')} height={640} />
              ) : (
                <pre className="text-part">{m.text_content ?? t('message.noText')}</pre>
              )}
            </TabPanel>
          </div>
          <MessageChecks id={m.id} hasHtml={Boolean(m.html_content)} />
        </div>
        <div className="side">
          <div className="card">
            <h2>{t('message.headers')}</h2>
            <KeyValues rows={headers} />
          </div>
          {m.feedback ? <FeedbackCard f={m.feedback} /> : null}
          <div className="card">
            <h2>{t('message.details')}</h2>
            <KeyValues rows={details} />
            <p className="small">
              <Link to={`/recipients/${encodeURIComponent(m.to)}`}>{t('message.allToRecipient')}</Link>
            </p>
          </div>
          {m.attachments.length ? (
            <div className="card">
              <h2>{t('message.attachments')}</h2>
              <ul className="plain">
                {m.attachments.map((a) => (
                  <li key={a.id}>
                    <button
                      type="button"
                      className="link"
                      onClick={() => api.attachment(m.id, a.id).then((b) => saveBlob(b, a.filename), setActionError)}
                    >
                      {a.filename}
                    </button>{' '}
                    <span className="muted small">
                      {a.content_type} · {formatBytes(a.size_bytes)}
                    </span>
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
          {m.recipients && (m.recipients.length > 1 || m.status === 'partially_sent') ? (
            <div className="card">
              <h2>{t('message.recipients')}</h2>
              <Recipients recipients={m.recipients} />
            </div>
          ) : null}
          <MessageFeedback id={m.id} />
          <div className="card">
            <h2>{t('message.events')}</h2>
            <Timeline events={m.events} />
          </div>
        </div>
      </div>
    </>
  );
}

/** The reports received by mail about this message (bounces, complaints, auto-replies), when there are any. */
function MessageFeedback({ id }: { id: string }) {
  const { t } = useI18n();
  const state = useAsync(() => api.feedbackReports({ message_id: id }), [id]);
  if (!state.data || state.data.items.length === 0) return null;
  return (
    <div className="card">
      <h2>{t('message.feedback')}</h2>
      <FeedbackReports reports={state.data.items} onChange={state.reload} />
    </div>
  );
}

const RECIPIENT_TONE: Record<MessageRecipient['status'], string> = {
  accepted: 'ok',
  deferred: 'info',
  pending: 'info',
  refused: 'bad',
  failed: 'bad',
  not_sent: 'muted',
  suppressed: 'muted',
};

/** Each envelope recipient (to, cc, bcc) with its own outcome: accepted, deferred (retried), refused, failed, suppressed (withheld). */
function Recipients({ recipients }: { recipients: MessageRecipient[] }) {
  const { t, lang } = useI18n();
  return (
    <table className="table compact recipients">
      <thead>
        <tr>
          <th>{t('message.recipient')}</th>
          <th>{t('message.kind')}</th>
          <th>{t('common.status')}</th>
          <th>{t('message.reply')}</th>
        </tr>
      </thead>
      <tbody>
        {recipients.map((r) => (
          <tr key={r.address} data-status={r.status}>
            <td className="mono small">{r.address}</td>
            <td>{r.kind}</td>
            <td>
              <span className={`badge ${RECIPIENT_TONE[r.status] ?? 'muted'}`}>{t(`recipientStatus.${r.status}`)}</span>
            </td>
            <td className="small">
              {r.response ? <span className="mono">{r.response}</span> : '—'}
              {r.relay_problem ? (
                <div className="warn-text">{t('message.relayProblem', { kind: r.relay_problem })}</div>
              ) : null}
              {r.at ? (
                <div className="muted">
                  {formatDateTime(r.at, lang)} · {t('message.attempts')} {r.attempts}
                </div>
              ) : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function KeyValues({ rows }: { rows: [string, string][] }) {
  return (
    <dl className="kv">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

/** What a bounce or a complaint said: its type, status code, diagnostic, feedback id, the suppression it caused. */
function FeedbackCard({ f }: { f: Feedback }) {
  const { t, lang } = useI18n();
  const rows: [string, string][] = [
    [t('feedback.type'), [f.type, f.subtype].filter(Boolean).join(' / ') || '—'],
    ...(f.status_code ? [[t('feedback.statusCode'), f.status_code] as [string, string]] : []),
    ...(f.diagnostic ? [[t('bounce.diagnostic'), f.diagnostic] as [string, string]] : []),
    ...(f.feedback_id ? [[t('feedback.id'), f.feedback_id] as [string, string]] : []),
    [t('bounce.suppressed'), f.suppressed.length ? f.suppressed.join(', ') : t('bounce.none')],
    ...(f.at ? [[t('common.date'), formatDateTime(f.at, lang)] as [string, string]] : []),
  ];
  return (
    <div className="card feedback">
      <h2>{f.kind === 'bounce' ? t('feedback.bounce') : t('feedback.complaint')}</h2>
      <KeyValues rows={rows} />
    </div>
  );
}
