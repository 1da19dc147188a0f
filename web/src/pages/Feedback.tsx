import { useState } from 'react';
import { api } from '../api.js';
import type { Classification } from '../api-types.js';
import { Async } from '../components/Async.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { FeedbackReports, KindBadge } from '../components/FeedbackReports.js';
import { useI18n } from '../i18n/context.js';
import type { MsgKey } from '../i18n/index.js';
import { useAsync } from '../lib/use-async.js';
import { Link } from '../router.js';

/**
 * Feedback received by mail that needs a person: reports matched to no message, unclassified or
 * failed ones; and the classifier itself, to see why a pasted message is (or is not) a bounce.
 */
export function FeedbackPage() {
  const { t } = useI18n();
  const state = useAsync(() => api.feedbackReports({ attention: true }), []);
  return (
    <section>
      <h1>{t('nav.feedback')}</h1>
      <div className="split">
        <div className="card">
          <h2>{t('feedback.attention')}</h2>
          <p className="muted small">{t('feedback.attentionHint')}</p>
          <Async state={state}>
            {(page) => <FeedbackReports reports={page.items} showMessage onChange={state.reload} />}
          </Async>
        </div>
        <div className="side">
          <ClassifyTool />
        </div>
      </div>
    </section>
  );
}

function ClassifyTool() {
  const { t } = useI18n();
  const [raw, setRaw] = useState('');
  const [result, setResult] = useState<Classification | null>(null);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setError(undefined);
    setBusy(true);
    try {
      setResult(await api.classify(raw));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="card">
      <h2>{t('feedback.classify')}</h2>
      <p className="muted small">{t('feedback.classifyHint')}</p>
      <label className="field">
        <span>{t('feedback.rawMessage')}</span>
        <textarea className="mono" rows={12} value={raw} onChange={(e) => setRaw(e.target.value)} spellCheck={false} />
      </label>
      <button type="button" className="primary" disabled={busy || raw.trim() === ''} onClick={run}>
        {t('feedback.classifyButton')}
      </button>
      <ErrorNote error={error} />
      {result ? (
        <div className="classification" aria-live="polite">
          <p>
            <KindBadge kind={result.kind} />{' '}
            {result.category ? (
              <span className="badge muted">{t(`feedback.category.${result.category}` as MsgKey)}</span>
            ) : null}{' '}
            {result.status ? <span className="mono small">{result.status}</span> : null}
          </p>
          <dl className="kv small">
            <div>
              <dt>{t('feedback.recipient')}</dt>
              <dd className="mono">{result.recipient ?? '—'}</dd>
            </div>
            <div>
              <dt>{t('feedback.diagnostic')}</dt>
              <dd className="mono">{result.diagnostic ?? '—'}</dd>
            </div>
            <div>
              <dt>{t('feedback.suppresses')}</dt>
              <dd>{result.suppress ? t('common.yes') : t('common.no')}</dd>
            </div>
            <div>
              <dt>{t('feedback.message')}</dt>
              <dd>
                {result.matched_message_id ? (
                  <Link to={`/messages/${result.matched_message_id}`}>
                    {t(`feedback.match.${result.match_method ?? 'none'}` as MsgKey)}
                  </Link>
                ) : (
                  t('feedback.match.none')
                )}
              </dd>
            </div>
            <div>
              <dt>{t('feedback.why')}</dt>
              <dd>
                <span className="mono">{result.reason}</span>
                <ul className="plain muted">
                  {result.evidence.map((e) => (
                    <li key={e} className="mono">
                      {e}
                    </li>
                  ))}
                </ul>
              </dd>
            </div>
          </dl>
        </div>
      ) : null}
    </div>
  );
}
