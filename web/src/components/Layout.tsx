import { type KeyboardEvent, type ReactNode, useEffect, useRef, useState } from 'react';
import { useI18n } from '../i18n/context.js';
import { LANGS, type Lang, type MsgKey } from '../i18n/index.js';
import { Link } from '../router.js';
import { setToken } from '../session.js';
import { forgetSystem } from '../lib/system.js';
import { CaptureBanner } from './CaptureBanner.js';

const NAV: { to: string; label: MsgKey }[] = [
  { to: '/', label: 'nav.dashboard' },
  { to: '/messages', label: 'nav.messages' },
  { to: '/templates', label: 'nav.templates' },
  { to: '/inbox', label: 'nav.inbox' },
  { to: '/feedback', label: 'nav.feedback' },
  { to: '/domains', label: 'nav.domains' },
  { to: '/system', label: 'nav.system' },
  { to: '/settings', label: 'nav.settings' },
];

const isCurrent = (to: string, path: string) =>
  to === '/'
    ? path === '/'
    : path === to || path.startsWith(`${to}/`) || (to === '/messages' && path.startsWith('/recipients/'));

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

/**
 * The header: on a wide screen the sections, language and log out in one row; on a phone a Menu
 * button opens them as a list, so every section stays reachable (none scrolled off-screen).
 */
export function Layout({ path, children }: { path: string; children: ReactNode }) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const toggle = useRef<HTMLButtonElement>(null);
  // Going somewhere closes the menu.
  useEffect(() => setOpen(false), [path]);
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key !== 'Escape' || !open) return;
    setOpen(false);
    toggle.current?.focus();
  };
  return (
    <>
      <a className="skip" href="#main">
        {t('common.skip')}
      </a>
      {/* biome-ignore lint/a11y/noStaticElementInteractions: keys bubbling from the nav links inside (Escape closes the menu) */}
      <header className="top" onKeyDown={onKeyDown}>
        <Link to="/" className="brand" aria-label="Postier">
          <span className="logo" aria-hidden="true">
            ✉
          </span>{' '}
          Postier
        </Link>
        <button
          ref={toggle}
          type="button"
          className="ghost menu-toggle"
          aria-expanded={open}
          aria-controls="top-menu"
          onClick={() => setOpen(!open)}
        >
          <span aria-hidden="true">☰</span> {t('nav.menu')}
        </button>
        <div id="top-menu" className={`top-menu${open ? ' open' : ''}`}>
          <nav aria-label={t('nav.label')}>
            {NAV.map((n) => (
              <Link key={n.to} to={n.to} aria-current={isCurrent(n.to, path) ? 'page' : undefined}>
                {t(n.label)}
              </Link>
            ))}
          </nav>
          <div className="top-tools">
            <LangSwitch />
            <button
              type="button"
              className="ghost"
              onClick={() => {
                forgetSystem();
                setToken(null);
              }}
            >
              {t('common.logout')}
            </button>
          </div>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <CaptureBanner />
        {children}
      </main>
    </>
  );
}
