import { useState } from 'react';
import { api } from '../api.js';
import type { Template, TemplateUpdate } from '../api-types.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { useT } from '../i18n/context.js';
import { navigate } from '../router.js';

type Kind = 'required' | 'optional';
interface VariableRow {
  name: string;
  kind: Kind;
  sensitive: boolean;
}

const rowsOf = (tpl: Template): VariableRow[] => [
  ...tpl.required_variables.map((name) => ({
    name,
    kind: 'required' as const,
    sensitive: tpl.sensitive_variables.includes(name),
  })),
  ...tpl.optional_variables.map((name) => ({
    name,
    kind: 'optional' as const,
    sensitive: tpl.sensitive_variables.includes(name),
  })),
];

const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
const LOCALE = /^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$/;
const KEY = /^[a-z0-9][a-z0-9_.-]{0,99}$/;

/**
 * Everything about a template but its text: metadata, declared variables (required, optional,
 * sensitive), locales, and the template's life (duplicate, deactivate, delete). Each save is a
 * PUT like the editor's: a new version when something versioned changed.
 */
export function TemplateSettings({ template, onSaved }: { template: Template; onSaved: () => void }) {
  const t = useT();
  const [meta, setMeta] = useState({
    name: template.name,
    description: template.description,
    category: template.category,
    class: template.class,
    priority: template.priority,
    max_attempts: template.max_attempts,
    default_locale: template.default_locale,
    attachments_allowed: template.attachments_allowed,
  });
  const [vars, setVars] = useState<VariableRow[]>(() => rowsOf(template));
  const [newVar, setNewVar] = useState('');
  const [newLocale, setNewLocale] = useState('');
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<string | null>(null);

  const put = async (body: TemplateUpdate, what: string) => {
    setError(undefined);
    setDone(null);
    try {
      const r = await api.saveTemplateVersion(template.key, { ...body, base_version: template.active_version });
      setDone(r.saved.action === 'new_version' ? t('settingsTpl.savedVersion', { n: r.saved.version }) : what);
      onSaved();
    } catch (e) {
      setError(e);
    }
  };
  const run = async (fn: () => Promise<unknown>) => {
    setError(undefined);
    setDone(null);
    try {
      await fn();
    } catch (e) {
      setError(e);
    }
  };

  const saveVariables = () =>
    put(
      {
        required_variables: vars.filter((v) => v.kind === 'required').map((v) => v.name),
        optional_variables: vars.filter((v) => v.kind === 'optional').map((v) => v.name),
        sensitive_variables: vars.filter((v) => v.sensitive).map((v) => v.name),
      },
      t('settingsTpl.saved'),
    );
  const addLocale = () => {
    const l = newLocale.trim();
    if (!LOCALE.test(l) || template.locales[l]) return;
    // A new locale starts as a copy of the default one, to translate in the editor.
    const base = template.locales[template.default_locale]!;
    void put({ locales: { [l]: { ...base } } }, t('settingsTpl.saved')).then(() => setNewLocale(''));
  };
  const duplicate = () => {
    const key = window.prompt(t('settingsTpl.duplicatePrompt'), `${template.key}_copy`)?.trim();
    if (!key) return;
    if (!KEY.test(key)) return setError(new Error(t('settingsTpl.badKey')));
    void run(async () => {
      await api.duplicateTemplate(template.key, key);
      navigate(`/templates/${encodeURIComponent(key)}`);
    });
  };
  const remove = () =>
    window.confirm(t('settingsTpl.deleteConfirm', { key: template.key })) &&
    run(async () => {
      await api.deleteTemplate(template.key);
      navigate('/templates');
    });

  return (
    <div className="template-settings">
      <ErrorNote error={error} />
      {done ? (
        <p className="ok-text" role="status">
          {done}
        </p>
      ) : null}
      <div className="card">
        <h2>{t('settingsTpl.life')}</h2>
        <p>
          {template.is_active ? (
            <span className="badge ok">{t('settingsTpl.active')}</span>
          ) : (
            <span className="badge muted">{t('templates.inactive')}</span>
          )}{' '}
          {template.is_active ? t('settingsTpl.activeHint') : t('settingsTpl.inactiveHint')}
        </p>
        <div className="actions">
          <button type="button" onClick={duplicate}>
            {t('settingsTpl.duplicate')}
          </button>
          {template.is_active ? (
            <button
              type="button"
              onClick={() =>
                window.confirm(t('settingsTpl.deactivateConfirm')) &&
                run(async () => {
                  await api.deactivateTemplate(template.key);
                  onSaved();
                })
              }
            >
              {t('settingsTpl.deactivate')}
            </button>
          ) : (
            <button
              type="button"
              onClick={() =>
                run(async () => {
                  await api.activateTemplate(template.key);
                  onSaved();
                })
              }
            >
              {t('settingsTpl.activate')}
            </button>
          )}
          <button type="button" className="danger" onClick={remove}>
            {t('settingsTpl.delete')}
          </button>
        </div>
        <p className="muted small">{t('settingsTpl.deleteHint')}</p>
      </div>

      <form
        className="card"
        onSubmit={(e) => {
          e.preventDefault();
          void put(meta, t('settingsTpl.saved'));
        }}
      >
        <h2>{t('settingsTpl.metadata')}</h2>
        <div className="form-grid">
          <label className="field">
            <span>{t('templates.name')}</span>
            <input
              name="name"
              value={meta.name}
              required
              onChange={(e) => setMeta({ ...meta, name: e.target.value })}
            />
          </label>
          <label className="field">
            <span>{t('common.category')}</span>
            <input
              name="category"
              value={meta.category}
              required
              onChange={(e) => setMeta({ ...meta, category: e.target.value })}
            />
          </label>
          <label className="field">
            <span>{t('settingsTpl.class')}</span>
            <input name="class" value={meta.class} onChange={(e) => setMeta({ ...meta, class: e.target.value })} />
          </label>
          <label className="field">
            <span>{t('templates.priority')}</span>
            <select
              name="priority"
              value={meta.priority}
              onChange={(e) => setMeta({ ...meta, priority: e.target.value as Template['priority'] })}
            >
              {(['urgent', 'normal', 'low'] as const).map((p) => (
                <option key={p} value={p}>
                  {t(`priority.${p}`)}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>{t('settingsTpl.maxAttempts')}</span>
            <input
              name="max_attempts"
              type="number"
              min={1}
              max={50}
              value={meta.max_attempts}
              onChange={(e) => setMeta({ ...meta, max_attempts: Number(e.target.value) })}
            />
          </label>
          <label className="field">
            <span>{t('settingsTpl.defaultLocale')}</span>
            <select
              name="default_locale"
              value={meta.default_locale}
              onChange={(e) => setMeta({ ...meta, default_locale: e.target.value })}
            >
              {Object.keys(template.locales).map((l) => (
                <option key={l} value={l}>
                  {l}
                </option>
              ))}
            </select>
          </label>
        </div>
        <label className="field">
          <span>{t('settingsTpl.description')}</span>
          <textarea
            name="description"
            rows={2}
            value={meta.description}
            onChange={(e) => setMeta({ ...meta, description: e.target.value })}
          />
        </label>
        <label className="check">
          <input
            type="checkbox"
            name="attachments_allowed"
            checked={meta.attachments_allowed}
            onChange={(e) => setMeta({ ...meta, attachments_allowed: e.target.checked })}
          />{' '}
          {t('settingsTpl.attachments')}
        </label>
        <div className="actions">
          <button type="submit" className="primary">
            {t('settingsTpl.saveMetadata')}
          </button>
        </div>
      </form>

      <div className="card">
        <h2>{t('settingsTpl.variables')}</h2>
        <p className="muted small">{t('settingsTpl.variablesHint')}</p>
        <table className="table compact">
          <thead>
            <tr>
              <th>{t('settingsTpl.variable')}</th>
              <th>{t('settingsTpl.kind')}</th>
              <th>{t('settingsTpl.sensitive')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {vars.map((v, i) => (
              <tr key={v.name}>
                <td className="mono">{v.name}</td>
                <td>
                  <select
                    aria-label={t('settingsTpl.kindOf', { name: v.name })}
                    value={v.kind}
                    onChange={(e) =>
                      setVars(vars.map((x, j) => (j === i ? { ...x, kind: e.target.value as Kind } : x)))
                    }
                  >
                    <option value="required">{t('settingsTpl.required')}</option>
                    <option value="optional">{t('settingsTpl.optional')}</option>
                  </select>
                </td>
                <td>
                  <input
                    type="checkbox"
                    aria-label={t('settingsTpl.sensitiveOf', { name: v.name })}
                    checked={v.sensitive}
                    onChange={(e) => setVars(vars.map((x, j) => (j === i ? { ...x, sensitive: e.target.checked } : x)))}
                  />
                </td>
                <td className="num">
                  <button type="button" className="ghost" onClick={() => setVars(vars.filter((_, j) => j !== i))}>
                    {t('settingsTpl.remove')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <div className="inline-form">
          <label className="field grow">
            <span>{t('settingsTpl.newVariable')}</span>
            <input name="new_variable" value={newVar} onChange={(e) => setNewVar(e.target.value)} spellCheck={false} />
          </label>
          <button
            type="button"
            disabled={!VARIABLE.test(newVar) || vars.some((v) => v.name === newVar)}
            onClick={() => {
              setVars([...vars, { name: newVar, kind: 'optional', sensitive: false }]);
              setNewVar('');
            }}
          >
            {t('settingsTpl.addVariable')}
          </button>
        </div>
        <div className="actions">
          <button type="button" className="primary" onClick={saveVariables}>
            {t('settingsTpl.saveVariables')}
          </button>
        </div>
      </div>

      <div className="card">
        <h2>{t('settingsTpl.locales')}</h2>
        <ul className="plain">
          {Object.keys(template.locales).map((l) => (
            <li key={l}>
              <span className="mono">{l}</span>{' '}
              {l === template.default_locale ? (
                <span className="badge info">{t('settingsTpl.default')}</span>
              ) : (
                <button
                  type="button"
                  className="ghost"
                  onClick={() =>
                    window.confirm(t('settingsTpl.removeLocaleConfirm', { locale: l })) &&
                    put({ locales: { [l]: null } }, t('settingsTpl.saved'))
                  }
                >
                  {t('settingsTpl.removeLocale', { locale: l })}
                </button>
              )}
            </li>
          ))}
        </ul>
        <div className="inline-form">
          <label className="field grow">
            <span>{t('settingsTpl.newLocale')}</span>
            <input
              name="new_locale"
              value={newLocale}
              onChange={(e) => setNewLocale(e.target.value)}
              placeholder="en"
            />
          </label>
          <button
            type="button"
            disabled={!LOCALE.test(newLocale.trim()) || !!template.locales[newLocale.trim()]}
            onClick={addLocale}
          >
            {t('settingsTpl.addLocale')}
          </button>
        </div>
      </div>
    </div>
  );
}
