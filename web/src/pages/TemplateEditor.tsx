import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { ApiError, api } from '../api.js';
import type { LocaleContent, Template } from '../api-types.js';
import { NotAvailable } from '../components/Async.js';
import { CodeEditor, type CodeEditorHandle } from '../components/CodeEditor.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { PreviewPane } from '../components/PreviewPane.js';
import { TabPanel, Tabs, useTabsBase } from '../components/Tabs.js';
import { TestSend } from '../components/TestSend.js';
import { VariablesCheck } from '../components/VariablesCheck.js';
import { useI18n } from '../i18n/context.js';
import { draftKey, parseDraft, sameLocales, type TemplateDraft } from '../lib/drafts.js';
import { formatDateTime } from '../lib/format.js';
import { type EditorField, type FieldError, renderErrors } from '../lib/render-errors.js';
import { initialSampleVariables, parseVariables } from '../lib/sample-vars.js';
import { usePreview } from '../lib/use-preview.js';
import { useLeaveGuard } from '../router.js';

const storedDraft = (key: string): TemplateDraft | null => {
  try {
    return parseDraft(localStorage.getItem(draftKey(key)));
  } catch {
    return null; // storage disabled: the editor works, without drafts
  }
};
const storeDraft = (key: string, draft: TemplateDraft | null) => {
  try {
    if (draft) localStorage.setItem(draftKey(key), JSON.stringify(draft));
    else localStorage.removeItem(draftKey(key));
  } catch {
    /* storage full or disabled: the draft lives as long as the page */
  }
};

/**
 * Subject, HTML and text per locale, rendered live beside the fields from sample variables.
 * Unsaved work survives a reload (a draft in localStorage), leaving asks first, Ctrl/Cmd+S saves.
 */
export function TemplateEditor({ template, onSaved }: { template: Template; onSaved: () => void }) {
  const { t, lang } = useI18n();
  const locales = Object.keys(template.locales);
  const initialVars = useMemo(() => JSON.stringify(initialSampleVariables(template), null, 2), [template]);
  // A draft left by an earlier visit, read once: it starts the editor where the operator left it.
  const [restored, setRestored] = useState(() => {
    const d = storedDraft(template.key);
    return d && (!sameLocales(d.locales, template.locales) || d.variables !== initialVars || d.comment.trim())
      ? d
      : null;
  });
  const [locale, setLocale] = useState(template.default_locale);
  const [drafts, setDrafts] = useState<Record<string, LocaleContent>>(() => ({
    ...template.locales,
    ...(restored?.locales ?? {}),
  }));
  const [varsText, setVarsText] = useState(() => restored?.variables ?? initialVars);
  const [comment, setComment] = useState(() => restored?.comment ?? '');
  /** The version this edit started from: saving sends it, so a save in between makes ours a 409. */
  const [baseVersion, setBaseVersion] = useState(() => restored?.base_version ?? template.active_version);
  const [saveState, setSaveState] = useState<{ error?: unknown; saved?: number; unchanged?: boolean }>({});
  /** Variables the draft reads that the operator chose to declare (optional) with the next save. */
  const [declared, setDeclared] = useState<string[]>([]);
  const optional = useMemo(
    () => [...template.optional_variables, ...declared.filter((v) => !template.optional_variables.includes(v))],
    [template.optional_variables, declared],
  );
  const editors = { html_content: useRef<CodeEditorHandle>(null), text_content: useRef<CodeEditorHandle>(null) };
  const ids = { html: useId(), text: useId(), shortcut: useId() };
  const localeTabs = useTabsBase();

  const draft = drafts[locale] ?? { subject: '', html_content: '', text_content: '' };
  const vars = parseVariables(varsText);
  const dirty = !sameLocales(drafts, template.locales);
  // Sample variables count as changed by their value, not their layout (the saved ones come back re-indented).
  const varsChanged = vars.ok
    ? JSON.stringify(vars.value) !== JSON.stringify(JSON.parse(initialVars))
    : varsText !== initialVars;
  const unsaved = dirty || varsChanged || comment.trim() !== '';

  // Another version became active (restored, or saved here) while nothing was being edited: show it.
  useEffect(() => {
    if (dirty) return;
    setDrafts(template.locales);
    setBaseVersion(template.active_version);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [template.active_version]);

  // Every change goes to the stored draft; no change left, no draft.
  useEffect(() => {
    storeDraft(
      template.key,
      unsaved
        ? {
            base_version: baseVersion,
            locales: drafts,
            variables: varsText,
            comment,
            saved_at: new Date().toISOString(),
          }
        : null,
    );
  }, [template.key, unsaved, baseVersion, drafts, varsText, comment]);

  useLeaveGuard(dirty ? t('editor.leaveConfirm') : null);

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
            optional_variables: optional,
            sensitive_variables: template.sensitive_variables,
          }
        : null,
    [draft, varsText, locale, template, optional],
  );
  const preview = usePreview(request);
  const saveErrors = saveState.error instanceof ApiError ? renderErrors(undefined, saveState.error) : [];
  const errors = useMemo(() => renderErrors(preview.result, preview.failure), [preview.result, preview.failure]);
  const otherFailure = preview.failure && errors.length === 0 ? preview.failure : undefined;
  /** Errors with a line of this field's own text (a layout's lines are not the field's). */
  const lineErrors = useMemo(
    () => ({
      html_content: errors.filter(
        (e): e is FieldError & { line: number } => e.field === 'html_content' && e.line !== null,
      ),
      text_content: errors.filter(
        (e): e is FieldError & { line: number } => e.field === 'text_content' && e.line !== null,
      ),
    }),
    [errors],
  );

  const edit = (field: EditorField, value: string) =>
    setDrafts((all) => ({ ...all, [locale]: { ...(all[locale] ?? draft), [field]: value } }));
  const errorList = (list: FieldError[], field: EditorField | null) =>
    list.map((e, i) => (
      <p key={i} className="field-error" role="alert">
        {e.line && field && field !== 'subject' && e.field === field ? (
          <button
            type="button"
            className="link"
            title={t('editor.goToLine', { line: e.line })}
            onClick={() => editors[field].current?.goTo(e.line!, e.column)}
          >
            {t('editor.errorAt', { line: e.line, column: e.column ?? 1 }).trim()}
          </button>
        ) : e.line ? (
          t('editor.errorAt', { line: e.line, column: e.column ?? 1 })
        ) : null}{' '}
        {e.message}
      </p>
    ));
  const fieldErrors = (field: EditorField) =>
    errorList(
      errors.filter((e) => e.field === field || (e.field === null && field === 'html_content')),
      field,
    );

  const save = async () => {
    setSaveState({});
    try {
      const res = await api.saveTemplateVersion(template.key, {
        locales: drafts,
        sample_variables: vars.ok ? vars.value : template.sample_variables,
        // Someone else's save in between makes this one a 409 instead of overwriting it.
        base_version: baseVersion,
        ...(declared.length ? { optional_variables: optional } : {}),
        ...(comment.trim() ? { comment: comment.trim() } : {}),
      });
      setSaveState(res.saved.action === 'unchanged' ? { unchanged: true } : { saved: res.saved.version });
      setBaseVersion(res.active_version);
      setComment('');
      setDeclared([]);
      setRestored(null);
      storeDraft(template.key, null);
      onSaved();
    } catch (e) {
      setSaveState({ error: e });
    }
  };

  // Ctrl+S / Cmd+S saves from anywhere on the page (and never opens the browser's "Save page").
  const saveNow = useRef(save);
  saveNow.current = dirty ? save : async () => undefined;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === 's') {
        e.preventDefault();
        void saveNow.current();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const discard = () => {
    if (!window.confirm(t('editor.discardConfirm'))) return;
    setDrafts(template.locales);
    setVarsText(initialVars);
    setComment('');
    setBaseVersion(template.active_version);
    setRestored(null);
    storeDraft(template.key, null);
  };

  const localeFields = (
    <>
      {restored ? (
        <div className="note draft-note" role="status">
          {t('editor.draftRestored', { time: formatDateTime(restored.saved_at, lang) })}{' '}
          {baseVersion !== template.active_version
            ? t('editor.draftOtherBase', { n: baseVersion, m: template.active_version })
            : null}
          <div className="actions">
            {baseVersion !== template.active_version ? (
              <button type="button" onClick={() => setBaseVersion(template.active_version)}>
                {t('editor.rebaseDraft', { m: template.active_version })}
              </button>
            ) : null}
            <button type="button" className="danger" onClick={discard}>
              {t('editor.discardDraft')}
            </button>
          </div>
        </div>
      ) : null}
      <label className="field">
        <span>{t('common.subject')}</span>
        <input
          name="subject"
          value={draft.subject}
          onChange={(e) => edit('subject', e.target.value)}
          spellCheck={false}
        />
      </label>
      {fieldErrors('subject')}
      <div className="field">
        <span id={ids.html}>HTML</span>
        <CodeEditor
          key={`html-${locale}`}
          ref={editors.html_content}
          name="html_content"
          value={draft.html_content}
          onChange={(v) => edit('html_content', v)}
          labelledBy={ids.html}
          errors={lineErrors.html_content}
          variables={[...template.required_variables, ...template.optional_variables]}
          rows={16}
        />
      </div>
      {fieldErrors('html_content')}
      <div className="field">
        <span id={ids.text}>{t('editor.textPart')}</span>
        <CodeEditor
          key={`text-${locale}`}
          ref={editors.text_content}
          name="text_content"
          value={draft.text_content ?? ''}
          onChange={(v) => edit('text_content', v)}
          labelledBy={ids.text}
          errors={lineErrors.text_content}
          variables={[...template.required_variables, ...template.optional_variables]}
          rows={8}
        />
      </div>
      {fieldErrors('text_content')}
    </>
  );

  return (
    <div className="editor">
      <div className="editor-fields card">
        {locales.length > 1 ? (
          <Tabs
            base={localeTabs}
            label={t('editor.locale')}
            items={locales.map((l) => ({ id: l, label: `${l}${l === template.default_locale ? ' ★' : ''}` }))}
            selected={locale}
            onSelect={setLocale}
          />
        ) : null}
        {locales.length > 1 ? (
          <TabPanel base={localeTabs} selected={locale}>
            {localeFields}
          </TabPanel>
        ) : (
          localeFields
        )}
        <label className="field">
          <span>{t('editor.sampleVariables')}</span>
          <textarea
            name="variables"
            className="code-input"
            rows={8}
            value={varsText}
            onChange={(e) => setVarsText(e.target.value)}
            spellCheck={false}
            aria-invalid={!vars.ok}
          />
        </label>
        {!vars.ok ? (
          <p className="field-error">{vars.error === 'not_an_object' ? t('editor.varsNotObject') : vars.error}</p>
        ) : null}
        <VariablesCheck
          template={template}
          variables={vars.ok ? vars.value : {}}
          result={preview.result}
          declared={declared}
          onDeclare={(name) => setDeclared((d) => (d.includes(name) ? d : [...d, name]))}
        />
        <div className="save-row">
          <label className="field grow">
            <span>{t('editor.comment')}</span>
            <input
              name="comment"
              value={comment}
              onChange={(e) => setComment(e.target.value)}
              placeholder={t('editor.commentHint')}
            />
          </label>
          <button type="button" className="primary" onClick={save} disabled={!dirty} aria-describedby={ids.shortcut}>
            {t('editor.saveVersion')}
          </button>
        </div>
        <p className="muted small save-hint">
          {dirty ? <span className="unsaved">{t('editor.unsaved')} · </span> : null}
          <span id={ids.shortcut}>{t('editor.saveShortcut')}</span>
        </p>
        {saveState.saved ? (
          <p className="ok-text" role="status">
            {t('editor.saved', { n: saveState.saved })}
          </p>
        ) : null}
        {saveState.unchanged ? (
          <p className="muted small" role="status">
            {t('editor.unchanged')}
          </p>
        ) : null}
        <ErrorNote error={saveState.error} />
        {errorList(saveErrors, null)}
      </div>
      <div className="editor-preview card">
        {preview.notAvailable ? (
          <NotAvailable what={t('editor.previewApi')} />
        ) : (
          <PreviewPane
            result={preview.rendered}
            pending={preview.pending}
            stale={preview.result !== preview.rendered}
          />
        )}
        <ErrorNote error={otherFailure} />
        <TestSend template={template} locale={locale} variables={vars.ok ? vars.value : null} dirty={dirty} />
      </div>
    </div>
  );
}
