import type { ReactNode } from 'react';
import { isNotAvailable } from '../api.js';
import { useT } from '../i18n/context.js';
import type { AsyncState } from '../lib/use-async.js';
import { ErrorNote } from './ErrorNote.js';

/** Loading, error and "this server does not offer it" states, so pages only render data. */
export function Async<T>({
  state,
  children,
  what,
}: {
  state: AsyncState<T>;
  children: (data: T) => ReactNode;
  what?: string;
}) {
  const t = useT();
  if (state.error !== undefined) {
    if (isNotAvailable(state.error)) return <NotAvailable what={what} />;
    return <ErrorNote error={state.error} />;
  }
  if (state.data === undefined)
    return (
      <p className="muted" aria-busy="true">
        {t('common.loading')}
      </p>
    );
  return <>{children(state.data)}</>;
}

export function NotAvailable({ what }: { what?: string | undefined }) {
  const t = useT();
  return (
    <div className="note" role="status" data-testid="not-available">
      <strong>{t('common.notAvailable')}</strong>{' '}
      {what ? t('common.notAvailableWhat', { what }) : t('common.notAvailableHint')}
    </div>
  );
}
