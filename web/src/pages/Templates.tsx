import { useState } from 'react';
import { api } from '../api.js';
import type { TemplateSummary } from '../api-types.js';
import { Async } from '../components/Async.js';
import { useT } from '../i18n/context.js';
import { useAsync } from '../lib/use-async.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { Link, navigate } from '../router.js';

export const groupByCategory = (items: TemplateSummary[]): [string, TemplateSummary[]][] => {
  const groups = new Map<string, TemplateSummary[]>();
  for (const t of items) groups.set(t.category, [...(groups.get(t.category) ?? []), t]);
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
};

export function Templates() {
  const t = useT();
  const list = useAsync(() => api.templates(), []);
  const [creating, setCreating] = useState(false);
  return (
    <section>
      <div className="page-head">
        <h1>{t('nav.templates')}</h1>
        <button type="button" aria-expanded={creating} onClick={() => setCreating(!creating)}>
          {t('templates.new')}
        </button>
      </div>
      {creating ? <NewTemplate /> : null}
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

/** A new template: its key, name, category and first locale; the content is written in the editor next. */
function NewTemplate() {
  const t = useT();
  const [form, setForm] = useState({ key: '', name: '', category: '', locale: 'fr' });
  const [error, setError] = useState<unknown>();
  const create = async () => {
    setError(undefined);
    try {
      await api.createTemplate({
        key: form.key.trim(),
        name: form.name.trim(),
        category: form.category.trim(),
        default_locale: form.locale.trim(),
        subject: form.name.trim(),
        html_content: `<p>${form.name.trim().replace(/[<&>]/g, '')}</p>`,
        text_content: null,
      });
      navigate(`/templates/${encodeURIComponent(form.key.trim())}`);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <form
      className="card new-template"
      onSubmit={(e) => {
        e.preventDefault();
        void create();
      }}
    >
      <h2>{t('templates.new')}</h2>
      <div className="form-grid">
        <label className="field">
          <span>{t('templates.key')}</span>
          <input
            name="key"
            required
            pattern="[a-z0-9][a-z0-9_.\-]{0,99}"
            value={form.key}
            onChange={(e) => setForm({ ...form, key: e.target.value })}
            spellCheck={false}
          />
        </label>
        <label className="field">
          <span>{t('templates.name')}</span>
          <input name="name" required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
        </label>
        <label className="field">
          <span>{t('common.category')}</span>
          <input
            name="category"
            required
            value={form.category}
            onChange={(e) => setForm({ ...form, category: e.target.value })}
          />
        </label>
        <label className="field">
          <span>{t('settingsTpl.defaultLocale')}</span>
          <input
            name="locale"
            required
            value={form.locale}
            onChange={(e) => setForm({ ...form, locale: e.target.value })}
          />
        </label>
      </div>
      <p className="muted small">{t('templates.keyHint')}</p>
      <ErrorNote error={error} />
      <button type="submit" className="primary">
        {t('templates.create')}
      </button>
    </form>
  );
}
