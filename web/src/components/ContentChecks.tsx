import { useState } from 'react';
import { ApiError, api } from '../api.js';
import type { HtmlCheck, LinkCheck, SpamReport } from '../api-types.js';
import { useI18n } from '../i18n/context.js';
import { useAsync } from '../lib/use-async.js';
import { Async } from './Async.js';
import { TabPanel, Tabs, useTabsBase } from './Tabs.js';

/**
 * The checks of a mail, shared by the capture inbox and the message page: its HTML against
 * caniemail.com's data, its links, its SpamAssassin report. Each loads when its tab is opened.
 */

type Feature = HtmlCheck['features'][number];

const scoreTone = (supported: number) => (supported >= 90 ? 'ok' : supported >= 70 ? 'warn' : 'bad');

/** Which email clients will not render what the HTML uses: the score, then each feature, worst first. */
export function HtmlCheckView({ load, id }: { load: () => Promise<HtmlCheck>; id: string }) {
  const { t } = useI18n();
  const state = useAsync(load, [id]);
  return (
    <div className="pad html-check">
      <Async state={state}>
        {(c) => {
          const lacking = c.features.filter((f) => f.unsupported + f.partial > 0);
          const fine = c.features.filter((f) => f.unsupported + f.partial === 0);
          return (
            <>
              {c.score === null ? (
                <p className="muted">{t('check.noHtml')}</p>
              ) : (
                <p>
                  <span className={`badge ${scoreTone(c.score.supported)}`}>
                    {t('check.score', { score: c.score.supported })}
                  </span>{' '}
                  {t('check.scoreParts', { partial: c.score.partial, unsupported: c.score.unsupported })}
                </p>
              )}
              <p className="muted small">{t('check.htmlHint')}</p>
              {lacking.length ? <FeatureTable features={lacking} /> : null}
              {fine.length ? (
                <details>
                  <summary>{t('check.supportedEverywhere', { n: fine.length })}</summary>
                  <FeatureTable features={fine} />
                </details>
              ) : null}
              <p className="muted small">
                {t('check.attribution', { date: c.data.last_update.slice(0, 10), clients: c.data.clients })}{' '}
                <a href="https://www.caniemail.com/" target="_blank" rel="noreferrer">
                  caniemail.com
                </a>{' '}
                ({c.data.license})
              </p>
            </>
          );
        }}
      </Async>
    </div>
  );
}

function FeatureTable({ features }: { features: Feature[] }) {
  const { t } = useI18n();
  return (
    <div className="table-scroll">
      <table className="table compact html-features">
        <thead>
          <tr>
            <th>{t('check.feature')}</th>
            <th className="num">{t('check.uses')}</th>
            <th className="num">{t('check.unsupported')}</th>
            <th className="num">{t('check.partial')}</th>
            <th>{t('check.clients')}</th>
          </tr>
        </thead>
        <tbody>
          {features.map((f) => (
            <tr key={f.slug} data-slug={f.slug}>
              <td>
                <a href={f.url} target="_blank" rel="noreferrer">
                  {f.title}
                </a>{' '}
                <span className="mono small muted">{f.slug}</span>
              </td>
              <td className="num">{f.count}</td>
              <td className="num">{f.unsupported}%</td>
              <td className="num">{f.partial}%</td>
              <td className="small">{f.clients.length === 0 ? '—' : <Clients feature={f} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** By family, each client that lacks the feature (or has it in part), then caniemail's notes on them. */
function Clients({ feature }: { feature: Feature }) {
  const { t } = useI18n();
  const notes = [...new Set(feature.clients.flatMap((c) => c.platforms.flatMap((p) => p.notes)))];
  return (
    <>
      <ul className="plain check-clients">
        {feature.clients.map((c) => (
          <li key={c.family}>
            <strong>{c.family_name}</strong>:{' '}
            {c.platforms.map((p, i) => (
              <span key={p.platform} className={p.support === 'partial' ? 'warn-text' : undefined}>
                {i > 0 ? ', ' : ''}
                {p.platform_name}
                {p.support === 'partial' ? ` (${t('check.partialShort')})` : ''}
                {p.notes.length ? ` [${p.notes.map((n) => notes.indexOf(n) + 1).join(', ')}]` : ''}
              </span>
            ))}
          </li>
        ))}
      </ul>
      {notes.length ? (
        <details>
          <summary>{t('check.notes', { n: notes.length })}</summary>
          <ol className="check-notes">
            {notes.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ol>
        </details>
      ) : null}
    </>
  );
}

const PROBLEM_TONE: Record<string, string> = { unsafe_scheme: 'bad', local_host: 'warn', not_https: 'warn' };

/** Every link and image of the mail with what is wrong with it (checked without any request). */
export function LinkList({ links }: { links: LinkCheck[] }) {
  const { t } = useI18n();
  if (links.length === 0) return <p className="muted pad">{t('inbox.noLinks')}</p>;
  return (
    <div className="table-scroll pad">
      <p className="muted small">{t('inbox.linksHint')}</p>
      <table className="table compact links">
        <thead>
          <tr>
            <th>{t('inbox.link')}</th>
            <th>{t('inbox.linkWhere')}</th>
            <th>{t('inbox.linkCheck')}</th>
          </tr>
        </thead>
        <tbody>
          {links.map((l, i) => (
            <tr key={`${i}-${l.url}`}>
              <td className="mono small reason">{l.url || '—'}</td>
              <td className="small">
                &lt;{l.tag} {l.attribute}&gt;
              </td>
              <td>
                {l.masked ? <span className="badge info">{t('check.masked')}</span> : null}{' '}
                {l.problems.length === 0 ? (
                  <span className="badge ok">{t('inbox.linkOk')}</span>
                ) : (
                  l.problems.map((p) => (
                    <span key={p} className={`badge ${PROBLEM_TONE[p] ?? 'warn'}`}>
                      {t(`inbox.problem.${p}`)}
                    </span>
                  ))
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** SpamAssassin's verdict, score against the threshold, and the rules that fired. */
export function SpamReportView({ report }: { report: SpamReport }) {
  const { t } = useI18n();
  return (
    <>
      <p>
        <span className={`badge ${report.is_spam ? 'bad' : 'ok'}`}>
          {report.is_spam ? t('inbox.spamYes') : t('inbox.spamNo')}
        </span>{' '}
        {t('inbox.spamScore', { score: report.score, threshold: report.threshold })}
      </p>
      <table className="table compact spam-rules">
        <thead>
          <tr>
            <th className="num">{t('inbox.spamPoints')}</th>
            <th>{t('inbox.spamRule')}</th>
          </tr>
        </thead>
        <tbody>
          {report.rules.map((r) => (
            <tr key={r.name}>
              <td className="num mono">{r.score}</td>
              <td>
                <span className="mono">{r.name}</span> <span className="small muted">{r.description}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** The archived message's links. */
export function MessageLinks({ load, id }: { load: () => Promise<{ links: LinkCheck[] }>; id: string }) {
  const state = useAsync(load, [id]);
  return <Async state={state}>{(r) => <LinkList links={r.links} />}</Async>;
}

/** The archived message's spam report; without a spamd, says why instead of an error. */
export function MessageSpam({ load, id }: { load: () => Promise<SpamReport>; id: string }) {
  const { t } = useI18n();
  const state = useAsync(
    () =>
      load().then(
        (report) => ({ report, reason: null }),
        (e: unknown) => {
          if (e instanceof ApiError && e.code === 'spam_check_unavailable') return { report: null, reason: e.message };
          throw e;
        },
      ),
    [id],
  );
  return (
    <div className="pad spam-check">
      <Async state={state}>
        {(r) =>
          r.report ? (
            <SpamReportView report={r.report} />
          ) : (
            <p className="muted">{t('inbox.spamUnavailable', { reason: r.reason ?? '' })}</p>
          )
        }
      </Async>
    </div>
  );
}

/**
 * The checks of an archived message, in a section opened on demand: nothing is asked of the
 * server before it is opened, then each check when its tab is selected.
 */
export function MessageChecks({ id, hasHtml }: { id: string; hasHtml: boolean }) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const [view, setView] = useState<'htmlcheck' | 'links' | 'spam'>(hasHtml ? 'htmlcheck' : 'spam');
  const tabs = useTabsBase();
  return (
    <details className="card flush message-checks" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>{t('check.section')}</summary>
      {open ? (
        <>
          <Tabs
            base={tabs}
            label={t('check.section')}
            items={[
              { id: 'htmlcheck', label: t('check.tab.html'), disabled: !hasHtml },
              { id: 'links', label: t('check.tab.links'), disabled: !hasHtml },
              { id: 'spam', label: t('check.tab.spam') },
            ]}
            selected={view}
            onSelect={setView}
          />
          <TabPanel base={tabs} selected={view}>
            {view === 'htmlcheck' ? (
              <HtmlCheckView id={id} load={() => api.messageHtmlCheck(id)} />
            ) : view === 'links' ? (
              <MessageLinks id={id} load={() => api.messageLinkCheck(id)} />
            ) : (
              <MessageSpam id={id} load={() => api.messageSpamCheck(id)} />
            )}
          </TabPanel>
        </>
      ) : null}
    </details>
  );
}
