import { type FormEvent, useState } from 'react';
import { api } from '../api.js';
import type { Template } from '../api-types.js';
import { useT } from '../i18n/context.js';
import { Link } from '../router.js';
import { ErrorNote } from './ErrorNote.js';

/** Sends the saved active version, rendered with the sample variables, to one address. */
export function TestSend({
  template,
  locale,
  variables,
  dirty,
}: {
  template: Template;
  locale: string;
  variables: Record<string, unknown> | null;
  dirty: boolean;
}) {
  const t = useT();
  const [to, setTo] = useState('');
  const [state, setState] = useState<{ busy?: boolean; error?: unknown; sentId?: string | null }>({});
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!variables) return;
    setState({ busy: true });
    try {
      const r = await api.testTemplate(template.key, { to: to.trim(), variables, locale, version: template.version });
      setState({ sentId: r.messages?.[0]?.id ?? null });
    } catch (err) {
      setState({ error: err });
    }
  };
  return (
    <form className="test-send" onSubmit={submit}>
      <h3>{t('editor.testSend')}</h3>
      <p className="muted small">
        {dirty ? t('editor.testSendDirty', { n: template.version }) : t('editor.testSendHint', { n: template.version })}
      </p>
      <div className="inline-form">
        <label className="field grow">
          <span className="sr-only">{t('editor.testTo')}</span>
          <input
            type="email"
            name="test_to"
            required
            value={to}
            onChange={(e) => setTo(e.target.value)}
            placeholder={t('editor.testTo')}
          />
        </label>
        <button type="submit" disabled={state.busy || !variables}>
          {t('editor.send')}
        </button>
      </div>
      {state.sentId !== undefined ? (
        <p className="ok-text" role="status">
          {t('editor.testSent', { to })}{' '}
          {state.sentId ? <Link to={`/messages/${state.sentId}`}>{t('editor.openMessage')}</Link> : null}
        </p>
      ) : null}
      <ErrorNote error={state.error} />
    </form>
  );
}
