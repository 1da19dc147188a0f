import { useEffect, useState } from 'react';
import { api } from '../api.js';
import type { Template, TestSendResult } from '../api-types.js';
import { Async } from '../components/Async.js';
import { DiffView } from '../components/DiffView.js';
import { EmailFrame } from '../components/EmailFrame.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { useI18n } from '../i18n/context.js';
import { formatDateTime } from '../lib/format.js';
import { useAsync } from '../lib/use-async.js';

/** Every version of a template, a diff between any two, and restoring one as the active version. */
export function VersionHistory({ template, onRestored }: { template: Template; onRestored: () => void }) {
  const { t, lang } = useI18n();
  const versions = useAsync(() => api.templateVersions(template.key), [template.key, template.active_version]);
  const numbers = (versions.data?.items ?? []).map((v) => v.version).sort((a, b) => a - b);
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    if (numbers.length && to === null) {
      setTo(template.active_version);
      setFrom(numbers.filter((n) => n < template.active_version).pop() ?? numbers[0]!);
    }
  }, [numbers.join(','), template.active_version]);
  const pair = useAsync(
    async () =>
      from && to ? Promise.all([api.templateVersion(template.key, from), api.templateVersion(template.key, to)]) : null,
    [template.key, from, to],
  );

  const [preview, setPreview] = useState<{ version: number; result: TestSendResult } | null>(null);
  /** Renders an old version with its sample variables, without restoring it. */
  const showPreview = async (version: number) => {
    setError(undefined);
    try {
      setPreview({ version, result: await api.testTemplate(template.key, { version }) });
    } catch (e) {
      setError(e);
    }
  };

  const restore = async (version: number) => {
    if (!window.confirm(t('versions.restoreConfirm', { n: version }))) return;
    setError(undefined);
    try {
      await api.activateTemplateVersion(template.key, version);
      onRestored();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <div className="versions">
      <ErrorNote error={error} />
      <Async state={versions} what={t('versions.api')}>
        {(page) => (
          <div className="card flush">
            <table className="table">
              <thead>
                <tr>
                  <th>{t('templates.version')}</th>
                  <th>{t('common.date')}</th>
                  <th>{t('versions.by')}</th>
                  <th>{t('versions.comment')}</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {[...page.items]
                  .sort((a, b) => b.version - a.version)
                  .map((v) => (
                    <tr key={v.version}>
                      <td>
                        v{v.version}{' '}
                        {v.version === template.active_version ? (
                          <span className="badge ok">{t('versions.active')}</span>
                        ) : null}
                      </td>
                      <td className="nowrap">{formatDateTime(v.created_at, lang)}</td>
                      <td>{v.created_by ?? '—'}</td>
                      <td>{v.comment ?? ''}</td>
                      <td className="num">
                        <button type="button" className="ghost" onClick={() => showPreview(v.version)}>
                          {t('versions.preview', { n: v.version })}
                        </button>{' '}
                        {v.version !== template.active_version ? (
                          <button type="button" onClick={() => restore(v.version)}>
                            {t('versions.restore', { n: v.version })}
                          </button>
                        ) : null}
                      </td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </div>
        )}
      </Async>
      {preview ? (
        <div className="card version-preview">
          <div className="inline-form">
            <h2 className="grow">{t('versions.previewOf', { n: preview.version })}</h2>
            <button type="button" className="ghost" onClick={() => setPreview(null)}>
              {t('versions.closePreview')}
            </button>
          </div>
          <p>
            <strong>{preview.result.subject}</strong>
          </p>
          {preview.result.html ? (
            <EmailFrame
              html={preview.result.html}
              title={t('versions.previewOf', { n: preview.version })}
              height={420}
            />
          ) : null}
          {preview.result.missing_variables.length ? (
            <p className="muted small">
              {t('editor.missingList', { list: preview.result.missing_variables.join(', ') })}
            </p>
          ) : null}
        </div>
      ) : null}
      {numbers.length > 1 ? (
        <div className="card">
          <div className="inline-form">
            <h2 className="grow">{t('versions.compare')}</h2>
            <VersionSelect
              label={t('versions.from')}
              name="diff_from"
              numbers={numbers}
              value={from}
              onChange={setFrom}
            />
            <VersionSelect label={t('versions.to')} name="diff_to" numbers={numbers} value={to} onChange={setTo} />
          </div>
          <Async state={pair}>
            {(p) =>
              p
                ? [...new Set([...Object.keys(p[0].locales), ...Object.keys(p[1].locales)])].map((l) => {
                    const a = p[0].locales[l];
                    const b = p[1].locales[l];
                    return (
                      <div key={l} className="diff-locale">
                        <h3>{l}</h3>
                        <DiffView label={t('common.subject')} oldText={a?.subject ?? ''} newText={b?.subject ?? ''} />
                        <DiffView label="HTML" oldText={a?.html_content ?? ''} newText={b?.html_content ?? ''} />
                        <DiffView
                          label={t('editor.textPart')}
                          oldText={a?.text_content ?? ''}
                          newText={b?.text_content ?? ''}
                        />
                      </div>
                    );
                  })
                : null
            }
          </Async>
        </div>
      ) : null}
    </div>
  );
}

/** One end of the comparison: a labelled choice among the template's version numbers. */
function VersionSelect(props: {
  label: string;
  name: string;
  numbers: number[];
  value: number | undefined | null;
  onChange: (n: number) => void;
}) {
  return (
    <label className="field">
      <span>{props.label}</span>
      <select value={props.value ?? ''} onChange={(e) => props.onChange(Number(e.target.value))} name={props.name}>
        {props.numbers.map((n) => (
          <option key={n} value={n}>
            v{n}
          </option>
        ))}
      </select>
    </label>
  );
}
