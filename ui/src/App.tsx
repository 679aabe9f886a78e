// The app shell: session gate (login), sidebar navigation and the route table.
import { type ReactNode, useEffect, useState } from 'react';
import { Loading } from './components/ui';
import { SessionProvider, useSession } from './lib/auth';
import { Link, match, useLocation } from './lib/router';
import { AgentDetail, Agents } from './pages/Agents';
import { AdminComponents } from './pages/admin/Components';
import { AdminEnvironments } from './pages/admin/Environments';
import { AdminIntegrations } from './pages/admin/Integrations';
import { AdminSecrets } from './pages/admin/Secrets';
import { AdminTokens } from './pages/admin/Tokens';
import { AdminUsers } from './pages/admin/Users';
import { DeploymentDetail } from './pages/DeploymentDetail';
import { Deployments } from './pages/Deployments';
import { Evidence } from './pages/Evidence';
import { Home } from './pages/Home';
import { Login } from './pages/Login';
import { Notifications } from './pages/Notifications';
import { PromotionDetail } from './pages/PromotionDetail';
import { Promotions } from './pages/Promotions';
import { ReleaseDetail } from './pages/ReleaseDetail';
import { ReleaseDiffPage } from './pages/ReleaseDiff';
import { ReleaseNew } from './pages/ReleaseNew';
import { Releases } from './pages/Releases';
import { RolloutNew } from './pages/RolloutNew';
import { RolloutDetail, Rollouts } from './pages/Rollouts';
import { TargetDetail, Targets } from './pages/Targets';
import { WorkflowRunDetail } from './pages/WorkflowRunDetail';
import { WorkflowRuns } from './pages/WorkflowRuns';

type Render = (params: Record<string, string>) => ReactNode;
const ROUTES: [string, Render][] = [
  ['/', () => <Home />],
  ['/releases', () => <Releases />],
  ['/releases/new', () => <ReleaseNew />],
  ['/releases/diff', () => <ReleaseDiffPage />],
  ['/releases/:ref', (p) => <ReleaseDetail ref_={p.ref!} />],
  ['/releases/:ref/edit', (p) => <ReleaseNew edit={p.ref!} />],
  ['/promotions', () => <Promotions />],
  ['/promotions/:id', (p) => <PromotionDetail id={p.id!} />],
  ['/deployments', () => <Deployments />],
  ['/deployments/:id', (p) => <DeploymentDetail id={p.id!} />],
  ['/rollouts', () => <Rollouts />],
  ['/rollouts/new', () => <RolloutNew />],
  ['/rollouts/:id', (p) => <RolloutDetail id={p.id!} />],
  ['/evidence', () => <Evidence />],
  ['/notifications', () => <Notifications />],
  ['/targets', () => <Targets />],
  ['/targets/:ref', (p) => <TargetDetail ref_={p.ref!} />],
  ['/agents', () => <Agents />],
  ['/agents/:ref', (p) => <AgentDetail ref_={p.ref!} />],
  ['/workflow-runs', () => <WorkflowRuns />],
  ['/workflow-runs/:id', (p) => <WorkflowRunDetail id={p.id!} />],
  ['/admin/environments', () => <AdminEnvironments />],
  ['/admin/components', () => <AdminComponents />],
  ['/admin/integrations', () => <AdminIntegrations />],
  ['/admin/secrets', () => <AdminSecrets />],
  ['/admin/tokens', () => <AdminTokens />],
  ['/admin/users', () => <AdminUsers />],
];

const NAV: { group: string; items: [string, string][] }[] = [
  {
    group: 'Delivery',
    items: [
      ['/', 'Pipeline'],
      ['/releases', 'Releases'],
      ['/promotions', 'Promotions'],
      ['/deployments', 'Deployments'],
      ['/rollouts', 'Rollouts'],
      ['/evidence', 'Evidence'],
      ['/notifications', 'Notifications'],
    ],
  },
  {
    group: 'Fleet',
    items: [
      ['/targets', 'Targets'],
      ['/agents', 'Agents'],
      ['/workflow-runs', 'Workflow runs'],
    ],
  },
  {
    group: 'Admin',
    items: [
      ['/admin/environments', 'Environments'],
      ['/admin/components', 'Components'],
      ['/admin/integrations', 'Integrations'],
      ['/admin/secrets', 'Secrets'],
      ['/admin/tokens', 'Tokens'],
      ['/admin/users', 'Users'],
    ],
  },
];

function isCurrent(href: string, path: string): boolean {
  return href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`);
}

function Shell() {
  const { me, checking, logout } = useSession();
  const { path } = useLocation();
  const [navOpen, setNavOpen] = useState(false);
  // On a narrow screen the menu closes once a page is picked.
  // biome-ignore lint/correctness/useExhaustiveDependencies: path is the trigger, not a value read
  useEffect(() => setNavOpen(false), [path]);
  if (checking) return <Loading what="Signing in" />;
  if (!me) return <Login />;
  let page: ReactNode = (
    <>
      <h1>Not found</h1>
      <p>
        No page at <code>{path}</code>. <Link to="/">Back to the pipeline</Link>.
      </p>
    </>
  );
  for (const [pattern, render] of ROUTES) {
    const params = match(pattern, path);
    if (params) {
      page = render(params);
      break;
    }
  }
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className="sidebar" data-open={navOpen ? 'true' : 'false'}>
        <div className="sidebar-top">
          <Link to="/" className="brand" aria-label="Gantry home">
            <span aria-hidden="true">▤</span> Gantry
          </Link>
          <button
            type="button"
            className="menu-button"
            aria-expanded={navOpen}
            aria-controls="nav-body"
            onClick={() => setNavOpen((o) => !o)}
          >
            {navOpen ? 'Close menu' : 'Menu'}
          </button>
        </div>
        <div className="nav-body" id="nav-body">
          <nav aria-label="Main">
            {NAV.map((g) => (
              <div key={g.group}>
                <div className="nav-group">{g.group}</div>
                <ul>
                  {g.items.map(([href, label]) => (
                    <li key={href}>
                      <Link to={href} aria-current={isCurrent(href, path) ? 'page' : undefined}>
                        {label}
                      </Link>
                    </li>
                  ))}
                </ul>
              </div>
            ))}
          </nav>
          <div className="whoami" data-testid="whoami">
            Signed in as <strong>{me.user.username}</strong>
            <br />
            tenant {me.tenant.name} · roles <span data-testid="my-roles">{me.roles.join(', ')}</span>
            <br />
            <button type="button" onClick={logout} style={{ marginTop: '0.4rem' }}>
              Sign out
            </button>
          </div>
        </div>
      </aside>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </div>
  );
}

export function App() {
  return (
    <SessionProvider>
      <Shell />
    </SessionProvider>
  );
}
