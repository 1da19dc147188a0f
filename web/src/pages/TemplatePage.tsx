import { useState } from 'react';
import { api } from '../api.js';
import { Async } from '../components/Async.js';
import { TabPanel, Tabs, useTabsBase } from '../components/Tabs.js';
import { useT } from '../i18n/context.js';
import { hasKey, type MsgKey } from '../i18n/index.js';
import { useAsync } from '../lib/use-async.js';
import { Link } from '../router.js';
import { TemplateEditor } from './TemplateEditor.js';
import { TemplateSettings } from './TemplateSettings.js';
import { VersionHistory } from './VersionHistory.js';

export function TemplatePage({ templateKey }: { templateKey: string }) {
  const t = useT();
  const state = useAsync(() => api.template(templateKey), [templateKey]);
  const [tab, setTab] = useState<'editor' | 'versions' | 'settings'>('editor');
  const tabs = useTabsBase();
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
                  <span className="mono">{tpl.key}</span> · {tpl.category} · {tpl.class} · {t('templates.priority')}:{' '}
                  {hasKey(`priority.${tpl.priority}`) ? t(`priority.${tpl.priority}` as MsgKey) : tpl.priority} ·{' '}
                  {t('templates.activeVersion', { n: tpl.active_version })}
                  {tpl.is_active ? null : (
                    <>
                      {' '}
                      <span className="badge muted">{t('templates.inactive')}</span>
                    </>
                  )}
                </p>
                {tpl.description ? <p className="desc">{tpl.description}</p> : null}
              </div>
              <Tabs
                base={tabs}
                label={t('editor.tabs')}
                items={[
                  { id: 'editor', label: t('templates.editor') },
                  { id: 'versions', label: t('templates.versions') },
                  { id: 'settings', label: t('templates.settings') },
                ]}
                selected={tab}
                onSelect={setTab}
              />
            </div>
            {/* The editor stays mounted behind the Versions tab: its undo history and draft stay put. */}
            <TabPanel base={tabs} selected="editor" hidden={tab !== 'editor'}>
              <TemplateEditor template={tpl} onSaved={state.reload} />
            </TabPanel>
            {tab === 'versions' ? (
              <TabPanel base={tabs} selected="versions">
                <VersionHistory template={tpl} onRestored={state.reload} />
              </TabPanel>
            ) : null}
            {tab === 'settings' ? (
              <TabPanel base={tabs} selected="settings">
                <TemplateSettings template={tpl} onSaved={state.reload} />
              </TabPanel>
            ) : null}
          </>
        )}
      </Async>
    </section>
  );
}
