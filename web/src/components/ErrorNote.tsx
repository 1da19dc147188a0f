import { ApiError } from '../api.js';

/** An API error as the server worded it, with its code for searching the docs. */
export function ErrorNote({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="note error" role="alert">
      {message}
      {error instanceof ApiError ? <code className="code-tag">{error.code}</code> : null}
    </div>
  );
}
