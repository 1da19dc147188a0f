import { api } from '../api.js';
import { MESSAGE_STATUSES, type RelayStatus, type StatusCounts } from '../api-types.js';
import { Async } from '../components/Async.js';
import { BarChart } from '../components/BarChart.js';
import { StatusBadge } from '../components/StatusBadge.js';
import { useI18n } from '../i18n/context.js';
import { formatAge, formatDateTime, formatNumber } from '../lib/format.js';
import { useAsync } from '../lib/use-async.js';
import { Link } from '../router.js';

const total = (c: StatusCounts) => Object.values(c).reduce((a, b) => a + b, 0);
const DAYS = 7;

export function Dashboard() {
  const { t, lang } = useI18n();
  const stats = useAsync(() => api.stats(DAYS), []);
  // A server without the relay endpoint (older version) shows no banner rather than an error.
  const relays = useAsync(() => api.relayStatus().catch(() => ({ items: [] as RelayStatus[] })), []);
  return (
    <section>
      <div className="page-head">
        <h1>{t('nav.dashboard')}</h1>
        <button
          type="button"
          className="ghost"
          onClick={() => {
            stats.reload();
            relays.reload();
          }}
        >
          {t('common.refresh')}
        </button>
      </div>
      {relays.data?.items
        .filter((r) => r.state === 'problem')
        .map((r) => (
          <RelayBanner
            key={r.name}
            relay={r}
            working={relays.data?.items.find((o) => o.name !== r.name && o.state === 'ok')}
          />
        ))}
      <Async state={stats}>
        {(s) => (
          <>
            <div className="tiles">
              <Tile label={t('dashboard.today')} value={formatNumber(total(s.today), lang)} />
              <Tile
                label={t('dashboard.deliveredToday')}
                value={formatNumber(s.today.delivered + s.today.sent + s.today.partially_sent, lang)}
                tone="ok"
              />
              {s.period.captured > 0 ? (
                <Tile label={t('dashboard.capturedToday')} value={formatNumber(s.today.captured, lang)} tone="warn" />
              ) : null}
              <Tile
                label={t('dashboard.failedToday')}
                value={formatNumber(s.today.failed + s.today.bounced + s.today.complaint, lang)}
                tone={s.today.failed + s.today.bounced ? 'bad' : undefined}
              />
              <Tile label={t('dashboard.queue')} value={formatNumber(s.queue.depth, lang)} />
              <Tile
                label={t('dashboard.oldestQueued')}
                value={formatAge(s.queue.oldest_age_seconds)}
                tone={(s.queue.oldest_age_seconds ?? 0) > 900 ? 'warn' : undefined}
              />
            </div>
            <div className="grid-2">
              <div className="card">
                <h2>{t('dashboard.perDay', { n: s.days })}</h2>
                <BarChart series={s.series} />
              </div>
              <div className="card">
                <h2>{t('dashboard.byStatus')}</h2>
                <table className="table compact">
                  <thead>
                    <tr>
                      <th>{t('common.status')}</th>
                      <th className="num">{t('dashboard.todayCol')}</th>
                      <th className="num">{t('dashboard.periodCol', { n: s.days })}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {MESSAGE_STATUSES.filter(
                      (st) => s.period[st] > 0 || ['sent', 'delivered', 'failed', 'bounced', 'queued'].includes(st),
                    ).map((st) => (
                      <tr key={st}>
                        <td>
                          <Link to={`/messages?status=${st}`}>
                            <StatusBadge status={st} />
                          </Link>
                        </td>
                        <td className="num">{formatNumber(s.today[st], lang)}</td>
                        <td className="num">{formatNumber(s.period[st], lang)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </div>
            {s.engagement.tracking.opens ||
            s.engagement.tracking.clicks ||
            s.engagement.opened + s.engagement.clicked > 0 ? (
              <div className="card engagement">
                <h2>{t('dashboard.engagement', { n: s.days })}</h2>
                <p>
                  {t('dashboard.engagementCounts', {
                    opened: formatNumber(s.engagement.opened, lang),
                    clicked: formatNumber(s.engagement.clicked, lang),
                  })}
                </p>
                <p className="muted small">
                  {t('dashboard.engagementMachines', {
                    opens: formatNumber(s.engagement.machine_opens, lang),
                    clicks: formatNumber(s.engagement.machine_clicks, lang),
                  })}
                </p>
              </div>
            ) : null}
            <div className="card">
              <h2>{t('dashboard.latestFailures')}</h2>
              {s.latest_failures.length === 0 ? (
                <p className="muted">{t('dashboard.noFailures')}</p>
              ) : (
                <div className="table-scroll">
                  <table className="table stack">
                    <thead>
                      <tr>
                        <th>{t('common.date')}</th>
                        <th>{t('common.recipient')}</th>
                        <th>{t('common.template')}</th>
                        <th>{t('common.status')}</th>
                        <th>{t('dashboard.reason')}</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.latest_failures.map((f) => (
                        <tr key={f.id}>
                          <td className="nowrap">
                            <Link to={`/messages/${f.id}`}>{formatDateTime(f.at, lang)}</Link>
                          </td>
                          <td>
                            <Link to={`/recipients/${encodeURIComponent(f.to)}`}>{f.to}</Link>
                          </td>
                          <td className="mono">{f.template_key}</td>
                          <td>
                            <StatusBadge status={f.status} />
                          </td>
                          <td className="reason">{f.reason ?? '—'}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </div>
          </>
        )}
      </Async>
    </section>
  );
}

function Tile({ label, value, tone }: { label: string; value: string; tone?: string | undefined }) {
  return (
    <div className={`tile ${tone ?? ''}`}>
      <div className="tile-value">{value}</div>
      <div className="tile-label">{label}</div>
    </div>
  );
}

/**
 * A relay problem: mail waits in the queue until the operator (or the relay) fixes it, or, when
 * another relay works (SMTP_FALLBACK_URLS), goes through that one meanwhile.
 */
function RelayBanner({ relay, working }: { relay: RelayStatus; working?: RelayStatus }) {
  const { t, lang } = useI18n();
  return (
    <div className={`note ${working ? 'warn' : 'error'} relay-banner`} role="alert">
      <strong>
        {t('dashboard.relayProblem', {
          address: relay.address,
          kind: relay.problem_kind ?? '?',
          since: formatDateTime(relay.since, lang),
        })}
      </strong>{' '}
      {working ? t('dashboard.relayFailoverHint', { address: working.address }) : t('dashboard.relayProblemHint')}
      {relay.last_problem ? (
        <div className="mono small">{t('dashboard.relayLast', { reply: relay.last_problem })}</div>
      ) : null}
    </div>
  );
}
