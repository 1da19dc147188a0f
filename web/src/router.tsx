/** A small history router: the UI has a dozen routes, not worth a dependency. */
import { type AnchorHTMLAttributes, type MouseEvent, useEffect, useSyncExternalStore } from 'react';

export const BASE = '/admin';
const listeners = new Set<() => void>();
const notify = () => listeners.forEach((l) => l());

/** What a page with unsaved work asks before the operator leaves it (one page at a time). */
let leaveQuestion: string | null = null;
/** The address shown now: where Back returns to when the operator chooses to stay. */
let shown = window.location.pathname + window.location.search;
const mayLeave = () => leaveQuestion === null || window.confirm(leaveQuestion);

window.addEventListener('popstate', () => {
  const target = window.location.pathname + window.location.search;
  if (target !== shown && !mayLeave()) {
    // The browser has moved already: put the page's address back (the forward entry is lost).
    history.pushState(null, '', shown);
    return;
  }
  shown = target;
  notify();
});

/**
 * While `question` is set, leaving asks it first: links and Back inside the UI with a
 * confirmation, reloading or closing the tab with the browser's own warning.
 */
export function useLeaveGuard(question: string | null): void {
  useEffect(() => {
    if (question === null) return;
    leaveQuestion = question;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => {
      if (leaveQuestion === question) leaveQuestion = null;
      window.removeEventListener('beforeunload', warn);
    };
  }, [question]);
}

const subscribe = (l: () => void) => {
  listeners.add(l);
  return () => listeners.delete(l);
};
const snapshot = () => window.location.pathname + window.location.search;

/** The current path inside /admin (always starting with "/") and its query. */
export function useLocation(): { path: string; query: URLSearchParams } {
  const loc = useSyncExternalStore(subscribe, snapshot);
  const [p = '', q = ''] = loc.split('?');
  const path = p.startsWith(BASE) ? p.slice(BASE.length) || '/' : p;
  return { path: path.length > 1 ? path.replace(/\/$/, '') : path, query: new URLSearchParams(q) };
}

/** Goes to a path inside /admin; false when the operator chose to stay on a page with unsaved work. */
export function navigate(to: string, opts: { replace?: boolean } = {}): boolean {
  const href = BASE + to;
  if (href !== shown && !mayLeave()) return false;
  shown = href;
  if (opts.replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  window.scrollTo(0, 0);
  notify();
  return true;
}

/** Matches "/messages/:id" against a path; returns the decoded params or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const names: string[] = [];
  const re = new RegExp(`^${pattern.replace(/:(\w+)/g, (_m, n: string) => (names.push(n), '([^/]+)'))}$`);
  const m = re.exec(path);
  if (!m) return null;
  return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
}

/** A real link (open in a new tab works) that navigates in place on a plain click. */
export function Link({ to, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={BASE + to} onClick={handle} {...rest} />;
}
