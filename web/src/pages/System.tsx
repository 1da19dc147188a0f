import { useState } from 'react';
import { api } from '../api.js';
import type { SystemInfo } from '../api-types.js';
import { Async } from '../components/Async.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { useI18n } from '../i18n/context.js';
import { saveBlob } from '../lib/download.js';
import { formatBytes, formatDateTime } from '../lib/format.js';
import { useAsync } from '../lib/use-async.js';

/** Mode and health in one place: what an operator checks first when mail does not arrive. */
export function SystemPage() {
  const { t } = useI18n();
  const sys = useAsync(() => api.system(), []);
  return (
    <section>
      <div className="page-head">
        <h1>{t('nav.system')}</h1>
        <button type="button" className="ghost" onClick={() => sys.reload()}>
          {t('common.refresh')}
        </button>
      </div>
      <Async state={sys}>{(s) => <SystemView s={s} onChange={() => sys.reload()} />}</Async>
    </section>
  );
}

function State({ ok, label }: { ok: boolean | null; label: string }) {
  return <span className={`badge ${ok === null ? 'muted' : ok ? 'ok' : 'bad'}`}>{label}</span>;
}

function SystemView({ s, onChange }: { s: SystemInfo; onChange: () => void }) {
  const { t, lang } = useI18n();
  const when = (v: string | null) => (v ? formatDateTime(v, lang) : '—');
  return (
    <>
      <div className="card">
        <h2>{t('system.mode')}</h2>
        <p>
          <State ok={s.mode === 'relay'} label={s.mode === 'relay' ? t('system.modeRelay') : t('system.modeCapture')} />{' '}
          {s.mode === 'relay' ? t('system.modeRelayHint') : t('system.modeCaptureHint')}
        </p>
        <dl className="kv">
          <div>
            <dt>{t('system.version')}</dt>
            <dd className="mono">
              {s.version} (Node {s.node})
            </dd>
          </div>
          <div>
            <dt>{t('system.database')}</dt>
            <dd className="mono">
              {s.database.kind} · {s.database.location} · {s.database.server} · {s.database.driver}
            </dd>
          </div>
          <div>
            <dt>{t('system.searchIndex')}</dt>
            <dd>
              {s.search_index.kind === 'postgres_trgm'
                ? t('system.searchIndexTrgm')
                : t('system.searchIndexPending', { n: s.search_index.pending })}
            </dd>
          </div>
          <div>
            <dt>{t('system.spool')}</dt>
            <dd data-testid="submission-spool">
              {s.submission_spool.waiting === 0
                ? t('system.spoolEmpty')
                : t('system.spoolWaiting', {
                    n: s.submission_spool.waiting,
                    since: when(s.submission_spool.oldest_at),
                  })}
              {s.submission_spool.failing > 0 && (
                <>
                  {' '}
                  <State ok={false} label={t('system.spoolFailing', { n: s.submission_spool.failing })} />{' '}
                  <span className="mono">{s.submission_spool.last_error}</span>
                </>
              )}
            </dd>
          </div>
          <div>
            <dt>{t('system.sender')}</dt>
            <dd className="mono">
              {s.sender.from}
              {s.sender.reply_to ? ` · Reply-To ${s.sender.reply_to}` : ''}
            </dd>
          </div>
        </dl>
      </div>
      {s.submission_spool.failing > 0 && <FailingSpool onChange={onChange} />}
      <div className="card">
        <h2>{t('system.transports')}</h2>
        <div className="table-scroll">
          <table className="table">
            <thead>
              <tr>
                <th>{t('system.transport')}</th>
                <th>{t('system.address')}</th>
                <th>TLS</th>
                <th>{t('common.status')}</th>
                <th>{t('system.lastProblem')}</th>
              </tr>
            </thead>
            <tbody>
              {s.transports.map((tr) => (
                <tr key={tr.name}>
                  <td>{tr.name}</td>
                  <td className="mono">{tr.address}</td>
                  <td>
                    {tr.tls}
                    {tr.authenticated ? ` · ${t('system.auth')}` : ''}
                  </td>
                  <td>
                    <State
                      ok={tr.state === 'unknown' ? null : tr.state === 'ok'}
                      label={t(`system.state.${tr.state}`)}
                    />
                    {tr.since ? <div className="small muted">{when(tr.since)}</div> : null}
                  </td>
                  <td className="reason">{tr.last_problem ? `${tr.problem_kind ?? ''} ${tr.last_problem}` : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
      <div className="grid-2">
        <div className="card">
          <h2>{t('system.readiness')}</h2>
          <ul className="plain">
            {Object.entries(s.readiness).map(([name, c]) => (
              <li key={name}>
                <State ok={c.status === 'ok'} label={c.status === 'ok' ? t('system.ok') : t('system.fail')} />{' '}
                <span className="mono">{name}</span> <span className="muted small">{c.ms} ms</span>
                {c.error ? <span className="mono small"> {c.error}</span> : null}
              </li>
            ))}
          </ul>
        </div>
        <div className="card">
          <h2>DKIM</h2>
          {s.dkim.length === 0 ? (
            <p className="muted">{t('system.noDkim')}</p>
          ) : (
            <ul className="plain">
              {s.dkim.map((d) => (
                <li key={d.domain} className="mono">
                  {d.selector}._domainkey.{d.domain}
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      <div className="card">
        <h2>{t('system.workers')}</h2>
        {s.workers.length === 0 ? (
          <p className="muted">{t('system.noWorkers')}</p>
        ) : (
          <div className="table-scroll">
            <table className="table">
              <thead>
                <tr>
                  <th>{t('system.worker')}</th>
                  <th>{t('common.status')}</th>
                  <th>{t('system.heartbeat')}</th>
                  <th>{t('system.started')}</th>
                  <th>{t('system.leased')}</th>
                </tr>
              </thead>
              <tbody>
                {s.workers.map((w) => (
                  <tr key={w.id}>
                    <td>
                      <span className="mono">
                        {w.host} · pid {w.pid}
                      </span>
                      <div className="small muted">{w.kind}</div>
                    </td>
                    <td>
                      <State
                        ok={w.state === 'alive' ? true : w.state === 'silent' ? false : null}
                        label={t(`system.workerState.${w.state}`)}
                      />
                    </td>
                    <td>{when(w.heartbeat_at)}</td>
                    <td>{when(w.started_at)}</td>
                    <td>{w.leased}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
      <div className="grid-2">
        <div className="card">
          <h2>{t('system.feedback')}</h2>
          <ul className="plain">
            {s.feedback.map((f) => (
              <li key={f.source}>
                <State ok={f.configured} label={f.configured ? t('system.configured') : t('system.notConfigured')} />{' '}
                <span className="mono">{f.source}</span> · <span className="mono small">{f.endpoint}</span>
                <div className="small muted">{f.detail}</div>
              </li>
            ))}
          </ul>
        </div>
        <div className="card">
          <h2>{t('system.jobs')}</h2>
          {s.jobs.length === 0 ? (
            <p className="muted">{t('system.noJobs')}</p>
          ) : (
            <ul className="plain">
              {s.jobs.map((j) => (
                <li key={j.name}>
                  <span className="mono">{j.name}</span>{' '}
                  <span className="small muted">
                    {when(j.last_finished_at)} {j.last_result ?? ''}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </>
  );
}

/**
 * Spooled SMTP submissions that could not be stored: the message as sent can be downloaded, tried
 * again now (after the cause is fixed), or dropped (its messages are then never stored or sent).
 */
function FailingSpool({ onChange }: { onChange: () => void }) {
  const { t, lang } = useI18n();
  const rows = useAsync(() => api.spoolFailing(), []);
  const [error, setError] = useState<unknown>(null);
  const act = (p: Promise<unknown>) =>
    p.then(() => {
      rows.reload();
      onChange();
    }, setError);
  return (
    <div className="card" data-testid="spool-failing">
      <h2>{t('system.spoolFailingTitle')}</h2>
      <p className="muted small">{t('system.spoolFailingHint')}</p>
      {error ? <ErrorNote error={error} /> : null}
      <Async state={rows}>
        {(r) => (
          <div className="table-scroll">
            <table className="table">
              <thead>
                <tr>
                  <th>{t('system.spoolReceived')}</th>
                  <th>{t('system.spoolMessage')}</th>
                  <th>{t('system.spoolAttempts')}</th>
                  <th>{t('system.lastProblem')}</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {r.items.map((e) => (
                  <tr key={e.id} data-testid={`spooled-${e.id}`}>
                    <td>{formatDateTime(e.received_at, lang)}</td>
                    <td>
                      <div className="mono">{e.from_email}</div>
                      <div className="small">
                        → {e.recipients.join(', ')} · {formatBytes(e.size)}
                      </div>
                      <div className="mono small muted">{e.smtp_message_id}</div>
                    </td>
                    <td>
                      {e.attempts}
                      {e.next_try_at ? (
                        <div className="small muted">
                          {t('system.spoolNextTry', { at: formatDateTime(e.next_try_at, lang) })}
                        </div>
                      ) : null}
                    </td>
                    <td className="reason mono small">{e.last_error}</td>
                    <td className="actions">
                      <button
                        type="button"
                        className="ghost"
                        onClick={() => api.spoolRaw(e.id).then((b) => saveBlob(b, `spooled-${e.id}.eml`), setError)}
                      >
                        {t('system.spoolDownload')}
                      </button>
                      <button type="button" className="ghost" onClick={() => act(api.retrySpooled(e.id))}>
                        {t('system.spoolRetry')}
                      </button>
                      <button
                        type="button"
                        className="danger"
                        onClick={() =>
                          window.confirm(t('system.spoolDropConfirm', { n: e.recipients.length })) &&
                          act(api.dropSpooled(e.id))
                        }
                      >
                        {t('system.spoolDrop')}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Async>
    </div>
  );
}
