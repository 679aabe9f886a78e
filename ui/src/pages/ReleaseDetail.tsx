// Release detail: components with tags, semver and digests, source ref, where it runs now (the targets
// whose latest successful deployment is of this release), its promotions, and the actions of its
// lifecycle (make ready, deprecate, promote where the server says this user can).
import { useState } from 'react';
import { api, unwrap } from '../api/client';
import type { Environment, Release } from '../api/types';
import { Digest, FullId, When } from '../components/format';
import { PromoteDialog } from '../components/PromoteDialog';
import { ActionButton, Badge, ErrorBox, Loading } from '../components/ui';
import { useSession } from '../lib/auth';
import { listEnvironments, listPromotions, listTargets, nextActionsByEnv } from '../lib/data';
import { Link, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

export function ReleaseDetail({ ref_ }: { ref_: string }) {
  useTitle(`Release ${ref_}`);
  const { hasRole } = useSession();
  const state = useApi(async () => {
    const release = await unwrap(api.GET('/api/v1/releases/{ref}', { params: { path: { ref: ref_ } } }));
    const promotable = release.status === 'ready' || release.status === 'deployed';
    const [envs, targets, promotions, actions] = await Promise.all([
      listEnvironments(),
      listTargets(),
      listPromotions({ release: release.id }),
      promotable ? nextActionsByEnv().catch(() => undefined) : undefined,
    ]);
    return { release, envs, targets, promotions, actions };
  }, [ref_]);
  const [promoteTo, setPromoteTo] = useState<Environment>();

  if (state.error) return <ErrorBox error={state.error} title={`Could not load release ${ref_}`} />;
  if (!state.data) return <Loading />;
  const { release, envs, targets, promotions } = state.data;
  // Per-target truth: an environment counts the targets whose current release is exactly this one.
  const runningIn = envs
    .map((env) => {
      const all = targets.filter((t) => t.environmentId === env.id);
      return { env, all, targets: all.filter((t) => t.currentRelease?.id === release.id) };
    })
    .filter((x) => x.targets.length > 0);
  const deployedIn = new Set((promotions ?? []).filter((p) => p.status === 'deployed').map((p) => p.targetEnvironmentId));
  // Where the server says this user may promote it now, or why nowhere.
  const promotable = envs.filter((env) => state.data?.actions?.get(env.id)?.items.some((i) => i.release.id === release.id && i.canRequest));
  const anyActions = state.data.actions ? [...state.data.actions.values()][0] : undefined;
  const notPromotable =
    promotable.length || !anyActions
      ? undefined
      : !anyActions.canRequest
        ? anyActions.roleReason
        : 'No environment can take it now: it already runs there, is being promoted there, or a gate refuses it (see the pipeline).';
  const canWrite = hasRole('release_manager');

  const act = async (call: Promise<{ data?: Release; error?: unknown; response: Response }>) => {
    await unwrap(call);
    await state.reload();
  };

  return (
    <>
      <p className="small">
        <Link to="/releases">Releases</Link> /
      </p>
      <div className="spread">
        <h1>
          {release.displayName || release.name} <Badge status={release.status} />
        </h1>
        <div className="row">
          {release.status === 'draft' && canWrite ? (
            <ActionButton
              className="primary"
              onAction={() => act(api.POST('/api/v1/releases/{ref}/ready', { params: { path: { ref: release.id } } }))}
            >
              Make ready (pin digests)
            </ActionButton>
          ) : null}
          {(release.status === 'ready' || release.status === 'deployed') && canWrite ? (
            <ActionButton
              className="danger"
              onAction={() => act(api.POST('/api/v1/releases/{ref}/deprecate', { params: { path: { ref: release.id } } }))}
            >
              Deprecate
            </ActionButton>
          ) : null}
        </div>
      </div>
      <div className="grid2">
        <div className="panel">
          <dl className="kv">
            <dt>Name</dt>
            <dd>{release.name}</dd>
            <dt>Id</dt>
            <dd>
              <FullId id={release.id} />
            </dd>
            <dt>Created</dt>
            <dd>
              <When at={release.createdAt} />
            </dd>
            <dt>Source</dt>
            <dd>
              {release.sourceRef ? (
                <>
                  {release.sourceRef.repository ?? ''} {release.sourceRef.branch ? <code>{release.sourceRef.branch}</code> : null}{' '}
                  {release.sourceRef.commitSha ? <code>{release.sourceRef.commitSha}</code> : null}{' '}
                  {release.sourceRef.ciRunUrl ? (
                    <a href={release.sourceRef.ciRunUrl} rel="noreferrer" target="_blank">
                      CI run
                    </a>
                  ) : null}
                </>
              ) : (
                <span className="muted">—</span>
              )}
            </dd>
          </dl>
        </div>
        <div className="panel">
          <h2 style={{ marginTop: 0 }}>Where it runs now</h2>
          {runningIn.length === 0 ? <p className="muted">Not running on any target.</p> : null}
          <ul className="plain">
            {runningIn.map(({ env, all, targets: ts }) => (
              <li key={env.id} data-testid={`runs-in-${env.name}`}>
                <strong>{env.name}</strong>: {ts.length} target(s) of {all.length}{' '}
                {deployedIn.has(env.id) ? <Badge status="deployed" /> : null}
                <div className="small muted">
                  {ts.map((t, i) => (
                    <span key={t.id}>
                      {i ? ', ' : ''}
                      <Link to={`/targets/${t.id}`}>{t.name}</Link>
                    </span>
                  ))}
                </div>
              </li>
            ))}
          </ul>
          {promotable.length ? (
            <div className="row" style={{ marginTop: '0.5rem' }}>
              <label htmlFor="promote-env" className="sr-only">
                Promote to environment
              </label>
              <select
                id="promote-env"
                defaultValue=""
                onChange={(e) => {
                  const env = envs.find((x) => x.id === e.target.value);
                  if (env) setPromoteTo(env);
                  e.target.value = '';
                }}
              >
                <option value="" disabled>
                  Promote to…
                </option>
                {promotable.map((env) => (
                  <option key={env.id} value={env.id}>
                    {env.name}
                  </option>
                ))}
              </select>
            </div>
          ) : notPromotable ? (
            <p className="muted small" data-testid="no-promote">
              {notPromotable}
            </p>
          ) : null}
        </div>
      </div>
      <h2>Components</h2>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Component</th>
              <th scope="col">Image</th>
              <th scope="col">Chosen by</th>
              <th scope="col">Tag</th>
              <th scope="col">Semver</th>
              <th scope="col">Channel</th>
              <th scope="col">Digest</th>
            </tr>
          </thead>
          <tbody>
            {release.components.map((c) => (
              <tr key={c.componentId}>
                <td>{c.component}</td>
                <td className="small">
                  <code>{c.imageRepository}</code>
                </td>
                <td className="small">
                  {c.selector.by} <code>{c.selector.value}</code>
                </td>
                <td>{c.tag ?? '—'}</td>
                <td>{c.semver ?? '—'}</td>
                <td>{c.channel ?? '—'}</td>
                <td>
                  <Digest value={c.digest} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Promotions</h2>
      {promotions?.length === 0 ? <p className="muted">Not promoted yet.</p> : null}
      {promotions?.length ? (
        <ul className="plain">
          {promotions.map((p) => (
            <li key={p.id}>
              <Link to={`/promotions/${p.id}`}>to {p.targetEnvironmentName}</Link> <Badge status={p.status} /> <When at={p.requestedAt} />{' '}
              by {p.requestedBy.username}
            </li>
          ))}
        </ul>
      ) : null}
      {promoteTo ? <PromoteDialog target={promoteTo} releaseId={release.id} onClose={() => setPromoteTo(undefined)} /> : null}
    </>
  );
}
