import { useState } from 'react';
import { api } from '../api.js';
import type { SendingDomain } from '../api-types.js';
import { Async } from '../components/Async.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { useI18n } from '../i18n/context.js';
import { formatDateTime } from '../lib/format.js';
import { useAsync } from '../lib/use-async.js';

type Check = NonNullable<NonNullable<SendingDomain['checks']>['spf']>;
const CHECKS = ['dkim', 'spf', 'dmarc', 'mx'] as const;

/** The sending domains and what their DNS says: what to publish, what is wrong, check again. */
export function DomainsPage() {
  const { t } = useI18n();
  const list = useAsync(() => api.domains(), []);
  return (
    <section>
      <div className="page-head">
        <h1>{t('nav.domains')}</h1>
        <button type="button" className="ghost" onClick={() => list.reload()}>
          {t('common.refresh')}
        </button>
      </div>
      <p className="muted">{t('domains.hint')}</p>
      <Async state={list}>
        {(page) => (
          <>
            <p className={`note ${page.enforced ? 'warn' : ''} domains-mode`}>
              {page.enforced ? t('domains.enforced') : t('domains.reported')}
            </p>
            {page.items.length === 0 ? (
              <p className="muted">{t('domains.none')}</p>
            ) : (
              page.items.map((d) => <DomainCard key={d.domain} domain={d} />)
            )}
          </>
        )}
      </Async>
    </section>
  );
}

function DomainCard({ domain }: { domain: SendingDomain }) {
  const { t, lang } = useI18n();
  const [d, setD] = useState(domain);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const checkNow = async () => {
    setBusy(true);
    setError(undefined);
    try {
      setD(await api.checkDomain(d.domain));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="card domain" data-domain={d.domain}>
      <div className="page-head">
        <h2 className="mono">{d.domain}</h2>
        <button type="button" onClick={() => void checkNow()} disabled={busy}>
          {busy ? t('domains.checking') : t('domains.checkNow')}
        </button>
      </div>
      <p>
        <span className={`badge ${d.checked_at === null ? 'muted' : d.verified ? 'ok' : 'bad'}`}>
          {d.checked_at === null
            ? t('domains.unchecked')
            : d.verified
              ? t('domains.verified')
              : t('domains.notVerified')}
        </span>{' '}
        <span className="muted small">
          {t('domains.roles')}: {d.roles.map((r) => t(`domains.role.${r}`)).join(', ')}
          {d.dkim_selector ? ` · DKIM selector ${d.dkim_selector}` : ''}
          {d.checked_at ? ` · ${t('domains.checkedAt', { when: formatDateTime(d.checked_at, lang) })}` : ''}
        </span>
      </p>
      <ErrorNote error={error} />
      {d.checks ? (
        <div className="table-scroll">
          <table className="table">
            <thead>
              <tr>
                <th>{t('domains.check')}</th>
                <th>{t('common.status')}</th>
                <th>{t('domains.name')}</th>
                <th>{t('domains.found')}</th>
                <th>{t('domains.expected')}</th>
              </tr>
            </thead>
            <tbody>
              {CHECKS.filter((c) => d.checks?.[c]).map((c) => (
                <CheckRow key={c} name={c} check={d.checks![c]!} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

function CheckRow({ name, check }: { name: string; check: Check }) {
  const { t } = useI18n();
  return (
    <tr data-check={name}>
      <td>{name.toUpperCase()}</td>
      <td>
        <span className={`badge ${check.status === 'ok' ? 'ok' : check.status === 'error' ? 'muted' : 'bad'}`}>
          {t(`domains.status.${check.status}`)}
        </span>
        <div className="small">{check.detail}</div>
      </td>
      <td className="mono small">{check.name}</td>
      <td className="mono small wrap">{check.found.length ? check.found.join('\n') : '—'}</td>
      <td className="mono small wrap">
        {check.expected && check.status !== 'ok' ? (
          <>
            {check.expected}{' '}
            <button
              type="button"
              className="ghost small"
              onClick={() => void navigator.clipboard?.writeText(check.expected!)}
            >
              {t('domains.copy')}
            </button>
          </>
        ) : (
          '—'
        )}
      </td>
    </tr>
  );
}
