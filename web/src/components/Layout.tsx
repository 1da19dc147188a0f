import type { ReactNode } from 'react';
import { useI18n } from '../i18n/context.js';
import { LANGS, type Lang, type MsgKey } from '../i18n/index.js';
import { Link } from '../router.js';
import { setToken } from '../session.js';

const NAV: { to: string; label: MsgKey }[] = [
  { to: '/', label: 'nav.dashboard' },
  { to: '/messages', label: 'nav.messages' },
  { to: '/templates', label: 'nav.templates' },
  { to: '/inbox', label: 'nav.inbox' },
  { to: '/settings', label: 'nav.settings' },
];

const isCurrent = (to: string, path: string) => (to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`) || (to === '/messages' && path.startsWith('/recipients/')));

export function LangSwitch() {
  const { lang, setLang, t } = useI18n();
  return (
    <label className="lang">
      <span className="sr-only">{t('common.language')}</span>
      <select value={lang} onChange={(e) => setLang(e.target.value as Lang)} aria-label={t('common.language')}>
        {LANGS.map((l) => (
          <option key={l} value={l}>
            {l === 'en' ? 'English' : 'Français'}
          </option>
        ))}
      </select>
    </label>
  );
}

export function Layout({ path, children }: { path: string; children: ReactNode }) {
  const { t } = useI18n();
  return (
    <>
      <a className="skip" href="#main">
        {t('common.skip')}
      </a>
      <header className="top">
        <Link to="/" className="brand" aria-label="Postier">
          <span className="logo" aria-hidden="true">✉</span> Postier
        </Link>
        <nav aria-label={t('nav.label')}>
          {NAV.map((n) => (
            <Link key={n.to} to={n.to} aria-current={isCurrent(n.to, path) ? 'page' : undefined}>
              {t(n.label)}
            </Link>
          ))}
        </nav>
        <div className="top-tools">
          <LangSwitch />
          <button type="button" className="ghost" onClick={() => setToken(null)}>
            {t('common.logout')}
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
