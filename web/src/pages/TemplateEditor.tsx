import { useMemo, useState } from 'react';
import { ApiError, api } from '../api.js';
import type { LocaleContent, Template } from '../api-types.js';
import { NotAvailable } from '../components/Async.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { PreviewPane } from '../components/PreviewPane.js';
import { TestSend } from '../components/TestSend.js';
import { VariablesCheck } from '../components/VariablesCheck.js';
import { useT } from '../i18n/context.js';
import { type EditorField, renderErrors } from '../lib/render-errors.js';
import { initialSampleVariables, parseVariables } from '../lib/sample-vars.js';
import { usePreview } from '../lib/use-preview.js';

/** Subject, HTML and text per locale, rendered live beside the fields from sample variables. */
export function TemplateEditor({ template, onSaved }: { template: Template; onSaved: () => void }) {
  const t = useT();
  const locales = Object.keys(template.locales);
  const [locale, setLocale] = useState(template.default_locale);
  const [drafts, setDrafts] = useState<Record<string, LocaleContent>>(template.locales);
  const [varsText, setVarsText] = useState(() => JSON.stringify(initialSampleVariables(template), null, 2));
  const [comment, setComment] = useState('');
  const [saveState, setSaveState] = useState<{ error?: unknown; saved?: number; unchanged?: boolean }>({});

  const draft = drafts[locale] ?? { subject: '', html_content: '', text_content: '' };
  const vars = parseVariables(varsText);
  const request = useMemo(
    () =>
      vars.ok
        ? {
            subject: draft.subject,
            html_content: draft.html_content,
            text_content: draft.text_content,
            layout: template.layout,
            variables: vars.value,
            locale,
            required_variables: template.required_variables,
            optional_variables: template.optional_variables,
            sensitive_variables: template.sensitive_variables,
          }
        : null,
    [draft, varsText, locale, template],
  );
  const preview = usePreview(request);
  const saveErrors = saveState.error instanceof ApiError ? renderErrors(undefined, saveState.error) : [];
  const errors = renderErrors(preview.result, preview.failure);
  const otherFailure = preview.failure && errors.length === 0 ? preview.failure : undefined;
  const dirty = JSON.stringify(drafts) !== JSON.stringify(template.locales);

  const edit = (field: EditorField, value: string) => setDrafts({ ...drafts, [locale]: { ...draft, [field]: value } });
  const fieldErrors = (field: EditorField) =>
    errors
      .filter((e) => e.field === field || (e.field === null && field === 'html_content'))
      .map((e, i) => (
        <p key={i} className="field-error" role="alert">
          {e.line ? t('editor.errorAt', { line: e.line, column: e.column ?? 1 }) : null}
          {e.message}
        </p>
      ));

  const save = async () => {
    setSaveState({});
    try {
      const res = await api.saveTemplateVersion(template.key, {
        locales: drafts,
        sample_variables: vars.ok ? vars.value : template.sample_variables,
        // Someone else's save in between makes this one a 409 instead of overwriting it.
        base_version: template.active_version,
        ...(comment.trim() ? { comment: comment.trim() } : {}),
      });
      setSaveState(res.saved.action === 'unchanged' ? { unchanged: true } : { saved: res.saved.version });
      setComment('');
      onSaved();
    } catch (e) {
      setSaveState({ error: e });
    }
  };

  return (
    <div className="editor">
      <div className="editor-fields card">
        {locales.length > 1 ? (
          <div className="tabs" role="tablist" aria-label={t('editor.locale')}>
            {locales.map((l) => (
              <button key={l} type="button" role="tab" aria-selected={l === locale} onClick={() => setLocale(l)}>
                {l}
                {l === template.default_locale ? ' ★' : ''}
              </button>
            ))}
          </div>
        ) : null}
        <label className="field">
          <span>{t('common.subject')}</span>
          <input name="subject" value={draft.subject} onChange={(e) => edit('subject', e.target.value)} spellCheck={false} />
        </label>
        {fieldErrors('subject')}
        <label className="field">
          <span>HTML</span>
          <textarea name="html_content" className="code-input" rows={16} value={draft.html_content} onChange={(e) => edit('html_content', e.target.value)} spellCheck={false} />
        </label>
        {fieldErrors('html_content')}
        <label className="field">
          <span>{t('editor.textPart')}</span>
          <textarea name="text_content" className="code-input" rows={8} value={draft.text_content ?? ''} onChange={(e) => edit('text_content', e.target.value)} spellCheck={false} />
        </label>
        {fieldErrors('text_content')}
        <label className="field">
          <span>{t('editor.sampleVariables')}</span>
          <textarea name="variables" className="code-input" rows={8} value={varsText} onChange={(e) => setVarsText(e.target.value)} spellCheck={false} aria-invalid={!vars.ok} />
        </label>
        {!vars.ok ? <p className="field-error">{vars.error === 'not_an_object' ? t('editor.varsNotObject') : vars.error}</p> : null}
        <VariablesCheck template={template} variables={vars.ok ? vars.value : {}} result={preview.result} />
        <div className="save-row">
          <label className="field grow">
            <span>{t('editor.comment')}</span>
            <input name="comment" value={comment} onChange={(e) => setComment(e.target.value)} placeholder={t('editor.commentHint')} />
          </label>
          <button type="button" className="primary" onClick={save} disabled={!dirty}>
            {t('editor.saveVersion')}
          </button>
        </div>
        {saveState.saved ? <p className="ok-text" role="status">{t('editor.saved', { n: saveState.saved })}</p> : null}
        {saveState.unchanged ? <p className="muted small" role="status">{t('editor.unchanged')}</p> : null}
        <ErrorNote error={saveState.error} />
        {saveErrors.map((e, i) => (
          <p key={i} className="field-error" role="alert">
            {e.line ? t('editor.errorAt', { line: e.line, column: e.column ?? 1 }) : null}
            {e.message}
          </p>
        ))}
      </div>
      <div className="editor-preview card">
        {preview.notAvailable ? <NotAvailable what={t('editor.previewApi')} /> : <PreviewPane result={preview.rendered} pending={preview.pending} stale={preview.result !== preview.rendered} />}
        <ErrorNote error={otherFailure} />
        <TestSend template={template} locale={locale} variables={vars.ok ? vars.value : null} dirty={dirty} />
      </div>
    </div>
  );
}
