import { api } from '../api.js';
import type { TemplateSummary } from '../api-types.js';
import { Async } from '../components/Async.js';
import { useT } from '../i18n/context.js';
import { useAsync } from '../lib/use-async.js';
import { Link } from '../router.js';

export const groupByCategory = (items: TemplateSummary[]): [string, TemplateSummary[]][] => {
  const groups = new Map<string, TemplateSummary[]>();
  for (const t of items) groups.set(t.category, [...(groups.get(t.category) ?? []), t]);
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
};

export function Templates() {
  const t = useT();
  const list = useAsync(() => api.templates(), []);
  return (
    <section>
      <h1>{t('nav.templates')}</h1>
      <Async state={list}>
        {(page) => (
          <div className="categories">
            {groupByCategory(page.items).map(([category, items]) => (
              <div className="card flush" key={category}>
                <h2 className="card-title">{category}</h2>
                <table className="table">
                  <thead>
                    <tr>
                      <th>{t('templates.name')}</th>
                      <th>{t('common.subject')}</th>
                      <th className="num">{t('templates.version')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {items.map((x) => (
                      <tr key={x.key}>
                        <td>
                          <Link to={`/templates/${encodeURIComponent(x.key)}`}>{x.name}</Link>
                          <div className="mono small muted">{x.key}</div>
                        </td>
                        <td className="ellipsis">{x.subject}</td>
                        <td className="num">
                          v{x.version}{' '}
                          {x.is_active ? null : <span className="badge muted">{t('templates.inactive')}</span>}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ))}
          </div>
        )}
      </Async>
    </section>
  );
}
