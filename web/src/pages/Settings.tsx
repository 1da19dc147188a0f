import type { MsgKey } from '../i18n/index.js';
import { useT } from '../i18n/context.js';
import { Link } from '../router.js';
import { ApiKeys } from './settings/ApiKeys.js';
import { Suppressions } from './settings/Suppressions.js';
import { Webhooks } from './settings/Webhooks.js';

const TABS: { id: string; label: MsgKey }[] = [
  { id: 'keys', label: 'settings.keys' },
  { id: 'suppressions', label: 'settings.suppressions' },
  { id: 'webhooks', label: 'settings.webhooks' },
];

export function Settings({ tab }: { tab: string }) {
  const t = useT();
  return (
    <section>
      <h1>{t('nav.settings')}</h1>
      <nav className="tabs sub" aria-label={t('nav.settings')}>
        {TABS.map((x) => (
          <Link key={x.id} to={`/settings/${x.id}`} aria-current={tab === x.id ? 'page' : undefined}>
            {t(x.label)}
          </Link>
        ))}
      </nav>
      {tab === 'suppressions' ? <Suppressions /> : tab === 'webhooks' ? <Webhooks /> : <ApiKeys />}
    </section>
  );
}
