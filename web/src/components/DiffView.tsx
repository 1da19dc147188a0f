import { useMemo } from 'react';
import { useT } from '../i18n/context.js';
import { diffStats, lineDiff, withContext } from '../lib/line-diff.js';

/** A unified line diff with old/new line numbers; unchanged runs fold into "n lines". */
export function DiffView({ oldText, newText, label }: { oldText: string; newText: string; label: string }) {
  const t = useT();
  const rows = useMemo(() => lineDiff(oldText, newText), [oldText, newText]);
  const stats = diffStats(rows);
  return (
    <section className="diff" aria-label={label}>
      <h4>
        {label} <span className="diff-add">+{stats.added}</span> <span className="diff-del">−{stats.removed}</span>
      </h4>
      {stats.added + stats.removed === 0 ? (
        <p className="muted">{t('versions.noChange')}</p>
      ) : (
        <table className="diff-table">
          <tbody>
            {withContext(rows).map((r, i) =>
              r.kind === 'gap' ? (
                <tr key={i} className="gap">
                  <td colSpan={3}>{t('versions.hiddenLines', { n: r.hidden, count: r.hidden })}</td>
                </tr>
              ) : (
                <tr key={i} className={r.kind}>
                  <td className="ln">{r.oldLine ?? ''}</td>
                  <td className="ln">{r.newLine ?? ''}</td>
                  <td className="code">
                    <span className="sign" aria-hidden="true">
                      {r.kind === 'add' ? '+' : r.kind === 'del' ? '−' : ' '}
                    </span>
                    {r.text}
                  </td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}
