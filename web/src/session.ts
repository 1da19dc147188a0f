/** The admin token lives in sessionStorage: it survives reloads, not the closing of the tab. */
const KEY = 'postier.token';
const listeners = new Set<() => void>();

export const getToken = (): string | null => sessionStorage.getItem(KEY);

export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
  for (const l of listeners) l();
}

export function onTokenChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
