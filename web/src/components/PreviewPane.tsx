import { useState } from 'react';
import type { PreviewResult } from '../api-types.js';
import { useT } from '../i18n/context.js';
import { EmailFrame } from './EmailFrame.js';
import { TabPanel, Tabs, useTabsBase } from './Tabs.js';

const MODES = ['desktop', 'mobile', 'text'] as const;
type Mode = (typeof MODES)[number];
const WIDTH: Record<Exclude<Mode, 'text'>, number> = { desktop: 720, mobile: 375 };

/** The rendered email as a recipient sees it: desktop width, phone width, or the plain-text part. */
export function PreviewPane({
  result,
  pending,
  stale = false,
}: {
  result: PreviewResult | undefined;
  pending: boolean;
  stale?: boolean;
}) {
  const t = useT();
  const [mode, setMode] = useState<Mode>('desktop');
  const base = useTabsBase();
  return (
    <div className="preview" aria-busy={pending}>
      <div className="preview-bar">
        <Tabs
          base={base}
          label={t('editor.previewMode')}
          items={MODES.map((m) => ({ id: m, label: t(`editor.mode.${m}`) }))}
          selected={mode}
          onSelect={setMode}
        />
        {pending ? (
          <span className="muted small">{t('editor.rendering')}</span>
        ) : stale ? (
          <span className="warn-text small">{t('editor.stale')}</span>
        ) : null}
      </div>
      <TabPanel base={base} selected={mode}>
        {result ? (
          <>
            <div className="preview-subject" data-testid="preview-subject">
              <span className="muted small">{t('common.subject')}:</span> {result.subject}
            </div>
            {mode === 'text' ? (
              <pre className="text-part" data-testid="preview-text">
                {result.text}
              </pre>
            ) : (
              <EmailFrame
                html={result.html ?? ''}
                title={t('editor.preview')}
                width={WIDTH[mode]}
                height={mode === 'mobile' ? 640 : 560}
              />
            )}
          </>
        ) : (
          <p className="muted">{t('editor.noPreview')}</p>
        )}
      </TabPanel>
    </div>
  );
}
