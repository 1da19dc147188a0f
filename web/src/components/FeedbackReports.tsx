import { useState } from 'react';
import { api } from '../api.js';
import type { FeedbackReport } from '../api-types.js';
import { useI18n } from '../i18n/context.js';
import type { MsgKey } from '../i18n/index.js';
import { formatDateTime } from '../lib/format.js';
import { Link } from '../router.js';
import { ErrorNote } from './ErrorNote.js';

const KIND_TONE: Record<string, string> = {
  hard_bounce: 'bad',
  soft_bounce: 'warn',
  complaint: 'bad',
  unsubscribe: 'warn',
  auto_reply: 'info',
  delivered: 'ok',
  unclassified: 'muted',
};

export function KindBadge({ kind }: { kind: string | null }) {
  const { t } = useI18n();
  const k = kind ?? 'pending';
  return <span className={`badge ${KIND_TONE[k] ?? 'muted'}`}>{t(`feedback.kind.${k}` as MsgKey)}</span>;
}

/**
 * Reports received by mail, each with what the classifier read and why: kind, category, status
 * code, the remote server's words, the addresses it suppressed, and its evidence.
 */
export function FeedbackReports({
  reports,
  showMessage,
  onChange,
}: {
  reports: FeedbackReport[];
  showMessage?: boolean;
  onChange?: () => void;
}) {
  const { t, lang } = useI18n();
  const [open, setOpen] = useState<string | null>(null);
  const [raw, setRaw] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const toggle = async (id: string) => {
    setOpen(open === id ? null : id);
    if (raw[id] === undefined) {
      try {
        const r = await api.feedbackReport(id);
        setRaw((m) => ({ ...m, [id]: r.raw }));
      } catch (e) {
        setError(e);
      }
    }
  };
  const reclassify = async (id: string) => {
    setError(undefined);
    try {
      await api.reclassifyReport(id);
      onChange?.();
    } catch (e) {
      setError(e);
    }
  };
  if (reports.length === 0) return <p className="muted">{t('feedback.none')}</p>;
  return (
    <>
      <ErrorNote error={error} />
      <ul className="plain feedback-reports">
        {reports.map((r) => (
          <li key={r.id} className="feedback-report" data-kind={r.kind ?? 'pending'}>
            <div>
              <KindBadge kind={r.kind} />{' '}
              {r.category ? (
                <span className="badge muted">{t(`feedback.category.${r.category}` as MsgKey)}</span>
              ) : null}{' '}
              {r.status_code ? <span className="mono small">{r.status_code}</span> : null}{' '}
              <span className="muted small">
                {formatDateTime(r.received_at, lang)} · {r.source}
              </span>
            </div>
            <dl className="kv small">
              {r.recipient ? (
                <div>
                  <dt>{t('feedback.recipient')}</dt>
                  <dd className="mono">{r.recipient}</dd>
                </div>
              ) : null}
              {r.diagnostic ? (
                <div>
                  <dt>{t('feedback.diagnostic')}</dt>
                  <dd className="mono">{r.diagnostic}</dd>
                </div>
              ) : null}
              {r.subject || r.from ? (
                <div>
                  <dt>{t('feedback.report')}</dt>
                  <dd>{[r.from, r.subject].filter(Boolean).join(' — ')}</dd>
                </div>
              ) : null}
              {r.suppressed.length ? (
                <div>
                  <dt>{t('feedback.suppressed')}</dt>
                  <dd className="mono">{r.suppressed.join(', ')}</dd>
                </div>
              ) : null}
              {showMessage ? (
                <div>
                  <dt>{t('feedback.message')}</dt>
                  <dd>
                    {r.message_id ? (
                      <Link to={`/messages/${r.message_id}`}>
                        {t(`feedback.match.${r.match_method ?? 'none'}` as MsgKey)}
                      </Link>
                    ) : (
                      t('feedback.match.none')
                    )}
                  </dd>
                </div>
              ) : null}
              {r.reason ? (
                <div>
                  <dt>{t('feedback.why')}</dt>
                  <dd>
                    <span className="mono">{r.reason}</span>
                    {r.evidence.length ? <span className="muted"> — {r.evidence.join('; ')}</span> : null}
                  </dd>
                </div>
              ) : null}
              {r.error ? (
                <div>
                  <dt>{t('message.error')}</dt>
                  <dd>{r.error}</dd>
                </div>
              ) : null}
            </dl>
            <div className="actions">
              <button type="button" className="link" aria-expanded={open === r.id} onClick={() => toggle(r.id)}>
                {open === r.id ? t('feedback.hideRaw') : t('feedback.showRaw')}
              </button>
              <button type="button" className="link" onClick={() => reclassify(r.id)}>
                {t('feedback.reclassify')}
              </button>
            </div>
            {open === r.id ? (
              // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take the keyboard focus (axe: scrollable-region-focusable)
              <section className="raw-report" tabIndex={0} aria-label={t('feedback.report')}>
                <pre className="text-part">{raw[r.id] ?? '…'}</pre>
              </section>
            ) : null}
          </li>
        ))}
      </ul>
    </>
  );
}
