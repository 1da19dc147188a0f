import { useState } from 'react';
import { api } from '../api.js';
import { Async } from '../components/Async.js';
import { useT } from '../i18n/context.js';
import { useAsync } from '../lib/use-async.js';
import { Link } from '../router.js';
import { TemplateEditor } from './TemplateEditor.js';
import { VersionHistory } from './VersionHistory.js';

export function TemplatePage({ templateKey }: { templateKey: string }) {
  const t = useT();
  const state = useAsync(() => api.template(templateKey), [templateKey]);
  const [tab, setTab] = useState<'editor' | 'versions'>('editor');
  return (
    <section>
      <p className="crumbs">
        <Link to="/templates">← {t('nav.templates')}</Link>
      </p>
      <Async state={state}>
        {(tpl) => (
          <>
            <div className="page-head">
              <div>
                <h1>{tpl.name}</h1>
                <p className="muted small">
                  <span className="mono">{tpl.key}</span> · {tpl.category} · {tpl.class} · {t('templates.priority')}: {tpl.priority} · {t('templates.activeVersion', { n: tpl.active_version })}
                </p>
                {tpl.description ? <p className="desc">{tpl.description}</p> : null}
              </div>
              <div className="tabs" role="tablist">
                <button type="button" role="tab" aria-selected={tab === 'editor'} onClick={() => setTab('editor')}>
                  {t('templates.editor')}
                </button>
                <button type="button" role="tab" aria-selected={tab === 'versions'} onClick={() => setTab('versions')}>
                  {t('templates.versions')}
                </button>
              </div>
            </div>
            {tab === 'editor' ? <TemplateEditor template={tpl} onSaved={state.reload} /> : <VersionHistory template={tpl} onRestored={state.reload} />}
          </>
        )}
      </Async>
    </section>
  );
}
