import { useEffect, useSyncExternalStore } from 'react';
import { Layout } from './components/Layout.js';
import { useT } from './i18n/context.js';
import { Dashboard } from './pages/Dashboard.js';
import { FeedbackPage } from './pages/Feedback.js';
import { InboxPage } from './pages/Inbox.js';
import { Login } from './pages/Login.js';
import { MessagePage } from './pages/MessagePage.js';
import { Messages } from './pages/Messages.js';
import { RecipientPage } from './pages/Recipient.js';
import { Settings } from './pages/Settings.js';
import { TemplatePage } from './pages/TemplatePage.js';
import { DomainsPage } from './pages/Domains.js';
import { SystemPage } from './pages/System.js';
import { Templates } from './pages/Templates.js';
import { Link, match, useLocation } from './router.js';
import { getToken, onTokenChange } from './session.js';

/** Path → page; the first match wins. */
function Page({ path }: { path: string }) {
  const t = useT();
  let p: Record<string, string> | null;
  if (path === '/') return <Dashboard />;
  if (path === '/messages') return <Messages />;
  if ((p = match('/messages/:id', path))) return <MessagePage id={p.id!} />;
  if ((p = match('/recipients/:email', path))) return <RecipientPage email={p.email!} />;
  if (path === '/templates') return <Templates />;
  if ((p = match('/templates/:key', path))) return <TemplatePage templateKey={p.key!} />;
  if (path === '/inbox') return <InboxPage />;
  if ((p = match('/inbox/:id', path))) return <InboxPage selected={p.id!} />;
  if (path === '/feedback') return <FeedbackPage />;
  if (path === '/domains') return <DomainsPage />;
  if (path === '/system') return <SystemPage />;
  if (path === '/settings') return <Settings tab="keys" />;
  if ((p = match('/settings/:tab', path))) return <Settings tab={p.tab!} />;
  return (
    <section>
      <h1>{t('common.notFound')}</h1>
      <Link to="/">{t('nav.dashboard')}</Link>
    </section>
  );
}

export function App() {
  const token = useSyncExternalStore(onTokenChange, getToken);
  const { path } = useLocation();
  const t = useT();
  useEffect(() => {
    const section = path.split('/')[1] || 'dashboard';
    document.title = `${t(`nav.${section}` as 'nav.dashboard') ?? section} · Postier`;
  }, [path, t]);
  if (!token) return <Login />;
  return (
    <Layout path={path}>
      <Page path={path} />
    </Layout>
  );
}
