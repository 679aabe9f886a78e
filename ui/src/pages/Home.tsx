// Home: the pipeline. Environments in promotion order as columns, each with the release it runs, its
// digests, target health, drift and pending promotions, and a promote action with a gate preview.
import { useMemo, useState } from 'react';
import type { Environment, Promotion, Release, Target } from '../api/types';
import { localTime } from '../components/format';
import { PromoteDialog } from '../components/PromoteDialog';
import { Badge, Digest, ErrorBox, Loading, Time } from '../components/ui';
import { ACTIVE_PROMOTION, listDrift, listEnvironments, listPromotions, listReleases, listTargets } from '../lib/data';
import { Link, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

interface Column {
  env: Environment;
  targets: Target[];
  release: Release | undefined;
  releaseSince: string | undefined;
  pending: Promotion[];
  health: Record<'healthy' | 'degraded' | 'unhealthy' | 'unknown', number>;
  drifted: Target[];
}

async function loadPipeline() {
  const [envs, targets, releases, promotions, drift] = await Promise.all([
    listEnvironments(),
    listTargets(),
    listReleases(),
    listPromotions(),
    listDrift().catch(() => undefined),
  ]);
  return { envs, targets, releases, promotions, drift };
}

/** The release an environment runs: its latest deployed promotion, else the release whose digests its targets run. */
function currentRelease(
  env: Environment,
  targets: Target[],
  releases: Release[],
  promotions: Promotion[] | undefined,
): { release: Release | undefined; since: string | undefined } {
  const deployed = promotions
    ?.filter((p) => p.targetEnvironmentId === env.id && p.status === 'deployed')
    .sort((a, b) => (b.completedAt ?? b.updatedAt).localeCompare(a.completedAt ?? a.updatedAt))[0];
  if (deployed) {
    return { release: releases.find((r) => r.id === deployed.releaseId), since: deployed.completedAt ?? deployed.updatedAt };
  }
  // Without a deployed promotion: the release the targets report running, where the API says so.
  const ids = new Set(targets.map((t) => (t as { currentReleaseId?: string | null }).currentReleaseId).filter(Boolean));
  return { release: releases.find((r) => ids.has(r.id)), since: undefined };
}

function buildColumns(data: Awaited<ReturnType<typeof loadPipeline>>): Column[] {
  const byEnv = new Map<string, Target[]>();
  for (const t of data.targets) {
    const list = byEnv.get(t.environmentId) ?? [];
    list.push(t);
    byEnv.set(t.environmentId, list);
  }
  return data.envs.map((env) => {
    const targets = byEnv.get(env.id) ?? [];
    const { release, since } = currentRelease(env, targets, data.releases, data.promotions);
    const health = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
    for (const t of targets) health[t.healthStatus]++;
    // Drift: the server's verdict (running containers and sticker against the record).
    const drifted = targets.filter((t) => data.drift?.get(t.id)?.driftDetected);
    const pending = data.promotions.filter((p) => p.targetEnvironmentId === env.id && ACTIVE_PROMOTION.has(p.status));
    return { env, targets, release, releaseSince: since, pending, health, drifted };
  });
}

function HealthBar({ health, total }: { health: Column['health']; total: number }) {
  if (total === 0) return <p className="muted small">No targets</p>;
  const pct = (n: number) => `${(n / total) * 100}%`;
  const label = `${health.healthy} healthy, ${health.degraded} degraded, ${health.unhealthy} unhealthy, ${health.unknown} unknown of ${total} targets`;
  return (
    <>
      <div className="health-bar" role="img" aria-label={label}>
        <span className="ok" style={{ width: pct(health.healthy) }} />
        <span className="warn" style={{ width: pct(health.degraded) }} />
        <span className="bad" style={{ width: pct(health.unhealthy) }} />
      </div>
      <p className="small muted" style={{ margin: 0 }}>
        {label}
      </p>
    </>
  );
}

function EnvColumn({
  col,
  next,
  onPromote,
}: {
  col: Column;
  next: Environment | undefined;
  onPromote: (target: Environment, release?: Release) => void;
}) {
  const { env, release } = col;
  const shown = col.targets.slice(0, 6);
  return (
    <article className="env-col" aria-labelledby={`env-${env.id}`} data-testid={`env-${env.name}`}>
      <div className="spread">
        <h2 id={`env-${env.id}`}>{env.displayName || env.name}</h2>
        <span className="muted small">#{env.orderIndex}</span>
      </div>
      <div className="row small muted">
        {env.requiredApprovals > 0 ? <span>{env.requiredApprovals} approval(s)</span> : <span>no approvals</span>}
        {env.requireSod ? <Badge status="info" label="SoD" /> : null}
        {env.freeze.until ? (
          <Badge status="frozen" label={`frozen until ${localTime(new Date(env.freeze.until))}`} />
        ) : env.freezeWindows.length ? (
          <Badge status="idle" label={`${env.freezeWindows.length} freeze window(s)`} />
        ) : null}
      </div>
      <section aria-label="Running release">
        {release ? (
          <>
            <div className="spread">
              <Link to={`/releases/${release.name}`}>
                <strong>{release.displayName || release.name}</strong>
              </Link>
              <Badge status={release.status} />
            </div>
            {col.releaseSince ? (
              <p className="small muted" style={{ margin: 0 }}>
                deployed <Time at={col.releaseSince} />
              </p>
            ) : null}
            <ul className="plain small">
              {release.components.map((c) => (
                <li key={c.componentId}>
                  {c.component} <span className="muted">{c.tag ?? c.semver ?? ''}</span> <Digest value={c.digest} />
                </li>
              ))}
            </ul>
          </>
        ) : (
          <p className="muted small">No release deployed yet</p>
        )}
      </section>
      <section aria-label="Targets">
        <div className="spread">
          <strong className="small">Targets</strong>
          {col.drifted.length ? <Badge status="drift" label={`drift: ${col.drifted.length}`} /> : null}
        </div>
        <HealthBar health={col.health} total={col.targets.length} />
        <ul className="plain small">
          {shown.map((t) => (
            <li key={t.id} className="spread">
              <Link to={`/targets/${t.id}`}>{t.name}</Link>
              <span className="row">
                {col.drifted.includes(t) ? <Badge status="drift" label="drift" /> : null}
                <Badge status={t.healthStatus} />
              </span>
            </li>
          ))}
        </ul>
        {col.targets.length > shown.length ? (
          <Link className="small" to={`/targets?environment=${env.name}`}>
            all {col.targets.length} targets
          </Link>
        ) : null}
      </section>
      <section aria-label="Pending promotions">
        <strong className="small">Pending promotions</strong>
        {col.pending.length === 0 ? <p className="muted small">None</p> : null}
        <ul className="plain small">
          {col.pending.map((p) => (
            <li key={p.id}>
              <Link to={`/promotions/${p.id}`}>{p.releaseName}</Link> <Badge status={p.status} />
              {p.blockedReason ? <div className="muted">{p.blockedReason}</div> : null}
            </li>
          ))}
        </ul>
      </section>
      <section className="row">
        <button type="button" onClick={() => onPromote(env)} aria-label={`Promote here: a release to ${env.name}`}>
          Promote here
        </button>
        {next && release ? (
          <button type="button" className="primary" onClick={() => onPromote(next, release)}>
            Promote {release.name} to {next.name} →
          </button>
        ) : null}
      </section>
    </article>
  );
}

export function Home() {
  useTitle('Pipeline');
  const state = useApi(loadPipeline, [], { pollMs: 10_000 });
  const columns = useMemo(() => (state.data ? buildColumns(state.data) : []), [state.data]);
  const [promote, setPromote] = useState<{ target: Environment; release?: Release }>();

  return (
    <>
      <div className="spread">
        <h1>Pipeline</h1>
        <div className="row">
          <Link className="button" to="/releases/new">
            New release
          </Link>
        </div>
      </div>
      <ErrorBox error={state.error} title="Could not load the pipeline" />
      {state.loading && !state.data ? <Loading what="Loading the pipeline" /> : null}
      {state.data && columns.length === 0 ? (
        <div className="panel">
          <p>
            No environments yet. Create them under <Link to="/admin/environments">Admin → Environments</Link>, in promotion order (e.g. dev,
            staging, prod).
          </p>
        </div>
      ) : null}
      <div className="pipeline" data-testid="pipeline">
        {columns.map((col, i) => (
          <EnvColumn
            key={col.env.id}
            col={col}
            next={columns[i + 1]?.env}
            onPromote={(target, release) => setPromote({ target, ...(release ? { release } : {}) })}
          />
        ))}
      </div>
      {promote && state.data ? (
        <PromoteDialog
          target={promote.target}
          release={promote.release}
          releases={state.data.releases}
          onClose={() => setPromote(undefined)}
        />
      ) : null}
    </>
  );
}
