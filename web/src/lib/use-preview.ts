import { useEffect, useState } from 'react';
import { ApiError, api, isNotAvailable } from '../api.js';
import type { PreviewRequest, PreviewResult } from '../api-types.js';
import { useDebounced } from './use-debounced.js';

export interface PreviewState {
  /** The latest answer: its errors and variable check. */
  result: PreviewResult | undefined;
  /** The latest answer that rendered, kept on screen while the draft is broken. */
  rendered: PreviewResult | undefined;
  failure: ApiError | undefined;
  notAvailable: boolean;
  pending: boolean;
}

/** Renders the draft on the server after typing pauses; keeps the last good render on screen while an error shows. */
export function usePreview(request: PreviewRequest | null): PreviewState {
  const debounced = useDebounced(request === null ? null : JSON.stringify(request), 300);
  const [state, setState] = useState<PreviewState>({
    result: undefined,
    rendered: undefined,
    failure: undefined,
    notAvailable: false,
    pending: false,
  });
  useEffect(() => {
    if (debounced === null) return;
    let current = true;
    setState((s) => ({ ...s, pending: true }));
    api.preview(JSON.parse(debounced) as PreviewRequest).then(
      (result) =>
        current &&
        setState((s) => ({
          result,
          rendered: result.html !== null ? result : s.rendered,
          failure: undefined,
          notAvailable: false,
          pending: false,
        })),
      (e: unknown) => {
        if (!current) return;
        if (isNotAvailable(e))
          setState({ result: undefined, rendered: undefined, failure: undefined, notAvailable: true, pending: false });
        else
          setState((s) => ({
            ...s,
            failure: e instanceof ApiError ? e : new ApiError(0, 'network', String(e)),
            pending: false,
          }));
      },
    );
    return () => {
      current = false;
    };
  }, [debounced]);
  return state;
}
