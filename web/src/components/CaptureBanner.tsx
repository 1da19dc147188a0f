import { useT } from '../i18n/context.js';
import { useSystemMode } from '../lib/system.js';
import { Link } from '../router.js';

/** On every page while SMTP_HOST is unset: mail goes to the capture inbox and reaches nobody. */
export function CaptureBanner() {
  const t = useT();
  if (useSystemMode() !== 'capture') return null;
  return (
    <div className="note warn capture-banner" role="status">
      <strong>{t('capture.banner')}</strong> {t('capture.bannerHint')} <Link to="/inbox">{t('capture.openInbox')}</Link>
      {' · '}
      <Link to="/system">{t('capture.openSystem')}</Link>
    </div>
  );
}
