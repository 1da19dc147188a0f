import type { PreviewResult, Template } from '../api-types.js';
import { useT } from '../i18n/context.js';
import { missingRequired } from '../lib/sample-vars.js';

/** The required-variables check: each declared variable, present or missing, and what the draft uses but does not declare. */
export function VariablesCheck({
  template,
  variables,
  result,
  declared = [],
  onDeclare,
}: {
  template: Template;
  variables: Record<string, unknown>;
  result: PreviewResult | undefined;
  /** Declared (as optional) with the next save. */
  declared?: string[];
  /** Offers to declare what the draft reads but does not declare (a save would be refused). */
  onDeclare?: (name: string) => void;
}) {
  const t = useT();
  const missing = new Set([
    ...missingRequired(template.required_variables, variables),
    ...(result?.missing_variables ?? []),
  ]);
  return (
    <div className="vars-check" aria-live="polite">
      <h3>{t('editor.requiredVariables')}</h3>
      {template.required_variables.length === 0 ? <p className="muted small">{t('editor.noRequired')}</p> : null}
      <ul className="chips">
        {template.required_variables.map((v) => (
          <li
            key={v}
            className={missing.has(v) ? 'chip bad' : 'chip ok'}
            title={missing.has(v) ? t('editor.missing') : t('editor.present')}
          >
            <span aria-hidden="true">{missing.has(v) ? '✗' : '✓'}</span> {v}
            <span className="sr-only">{missing.has(v) ? t('editor.missing') : t('editor.present')}</span>
          </li>
        ))}
        {template.sensitive_variables.map((v) => (
          <li key={`s-${v}`} className="chip muted" title={t('editor.sensitive')}>
            🔒 {v}
          </li>
        ))}
      </ul>
      {[...missing].filter((v) => !template.required_variables.includes(v)).length ? (
        <p className="field-error">
          {t('editor.missingList', {
            list: [...missing].filter((v) => !template.required_variables.includes(v)).join(', '),
          })}
        </p>
      ) : null}
      {result?.variables?.undeclared.length ? (
        <div className="undeclared">
          <p className="warn-text small">{t('editor.undeclared', { list: result.variables.undeclared.join(', ') })}</p>
          {onDeclare ? (
            <p className="small">
              {t('editor.declareHint')}{' '}
              {result.variables.undeclared.map((v) => (
                <button key={v} type="button" className="ghost" onClick={() => onDeclare(v)}>
                  {t('editor.declare', { name: v })}
                </button>
              ))}
            </p>
          ) : null}
        </div>
      ) : null}
      {declared.length ? <p className="small">{t('editor.declared', { list: declared.join(', ') })}</p> : null}
      {result?.variables?.unused.length ? (
        <p className="muted small">{t('editor.unused', { list: result.variables.unused.join(', ') })}</p>
      ) : null}
    </div>
  );
}
