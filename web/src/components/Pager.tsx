import { useI18n } from '../i18n/context.js';

/** Cursor paging: back to the first page when not on it, forward when the server has more. */
export function Pager({ onFirst, onNext }: { onFirst?: () => void; onNext?: () => void }) {
  const { t } = useI18n();
  return (
    <div className="pager">
      {onFirst ? (
        <button type="button" className="ghost" onClick={onFirst}>
          {t('messages.firstPage')}
        </button>
      ) : null}
      {onNext ? (
        <button type="button" onClick={onNext}>
          {t('messages.nextPage')}
        </button>
      ) : null}
    </div>
  );
}
