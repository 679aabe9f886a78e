// Home: the pipeline. Environments in promotion order as columns, each with the releases its targets run
// (per-target truth), their digests, target health, drift, unobservable and waiting targets, pending
// promotions, and the promote actions the server says this user can take now (next actions). The targets
// come as the server's summary per environment (counts and the first few), not as the list of every target.
import { useMemo, useState } from 'react';
import type { Environment, EnvironmentTargetSummary, NextActions, Promotion, Release, TargetBrief } from '../api/types';
import { Digest, localTime, When } from '../components/format';
import { PromoteDialog } from '../components/PromoteDialog';
import { Badge, ErrorBox, Loading } from '../components/ui';
import {
  ACTIVE_PROMOTION,
  listEnvironments,
  listPromotions,
  listReleases,
  nextActionsByEnv,
  preload,
  preloaded,
  targetSummary,
} from '../lib/data';
import { Link, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

/** Targets listed per column (with a health bar and counts for all). */
const SHOWN = 6;

interface Column {
  env: Environment;
  /** How many targets the environment has. */
  total: number;
  /** The first SHOWN targets. */
  targets: TargetBrief[];
  /** The release most of its targets run (per-target truth). */
  release: Release | undefined;
  releaseSince: string | undefined;
  /** Every release on its targets with how many run it; `release: null` = targets with nothing deployed. */
  spread: { release: { id: string; name: string } | null; count: number }[];
  pending: Promotion[];
  health: Record<'healthy' | 'degraded' | 'unhealthy' | 'unknown', number>;
  drifted: number;
  unobservable: number;
  waiting: number;
  /** The first targets that wait for a runner, with why. */
  waitingTargets: TargetBrief[];
  actions: NextActions | undefined;
}

async function loadPipeline() {
  const [envs, summary, releases, promotions] = await Promise.all([
    listEnvironments(),
    targetSummary(SHOWN),
    listReleases(),
    listPromotions(),
  ]);
  return { envs, summary, releases, promotions };
}

/** What an environment runs, from its targets; without targets, its latest deployed promotion. */
function currentRelease(
  env: Environment,
  summary: EnvironmentTargetSummary | undefined,
  releases: Release[],
  promotions: Promotion[] | undefined,
): { release: Release | undefined; since: string | undefined; spread: Column['spread'] } {
  const deployed = promotions
    ?.filter((p) => p.targetEnvironmentId === env.id && p.status === 'deployed')
    .sort((a, b) => (b.completedAt ?? b.updatedAt).localeCompare(a.completedAt ?? a.updatedAt))[0];
  const since = (id: string | undefined) =>
    deployed && deployed.releaseId === id ? (deployed.completedAt ?? deployed.updatedAt) : undefined;
  if (!summary?.total) {
    const release = deployed ? releases.find((r) => r.id === deployed.releaseId) : undefined;
    return { release, since: since(release?.id), spread: [] };
  }
  // The server lists the releases on the targets most first.
  const main = summary.releases.find((g) => g.release)?.release;
  const release = main ? releases.find((r) => r.id === main.id) : undefined;
  return { release, since: since(release?.id), spread: summary.releases };
}

/** Starts the pipeline's requests before sign-in is confirmed (main.tsx, when the app opens at `/` with a token). */
export function preloadHome(): void {
  preload('pipeline', loadPipeline);
  preload('next-actions', nextActionsByEnv);
}

function buildColumns(data: Awaited<ReturnType<typeof loadPipeline>>, actions: Map<string, NextActions> | undefined): Column[] {
  const byEnv = new Map(data.summary.map((s) => [s.environmentId, s]));
  return data.envs.map((env) => {
    const summary = byEnv.get(env.id);
    const { release, since, spread } = currentRelease(env, summary, data.releases, data.promotions);
    const pending = data.promotions.filter((p) => p.targetEnvironmentId === env.id && ACTIVE_PROMOTION.has(p.status));
    return {
      env,
      total: summary?.total ?? 0,
      targets: summary?.targets ?? [],
      release,
      releaseSince: since,
      spread,
      pending,
      health: summary?.health ?? { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 },
      // Drift: the server's verdict (running containers and sticker against the record).
      drifted: summary?.drifted ?? 0,
      unobservable: summary?.unobservable ?? 0,
      waiting: summary?.waiting ?? 0,
      waitingTargets: summary?.waitingTargets ?? [],
      actions: actions?.get(env.id),
    };
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
  next: Column | undefined;
  onPromote: (target: Environment, release?: Release) => void;
}) {
  const { env, release } = col;
  // Only what the server says this user can do now (GET /environments/{id}/next-actions).
  const canPromoteHere = Boolean(col.actions?.items.some((i) => i.canRequest));
  const nextItem = release ? next?.actions?.items.find((i) => i.release.id === release.id) : undefined;
  const canPromoteNext = Boolean(next && nextItem?.canRequest);
  const whyNot = !col.actions
    ? undefined
    : !col.actions.canRequest
      ? col.actions.roleReason
      : !canPromoteHere && !canPromoteNext
        ? next && release && nextItem?.reason
          ? `Not to ${next.env.name}: ${nextItem.reason}`
          : 'No release can be promoted here now.'
        : undefined;
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
            {col.spread.length ? (
              <p className="small muted" style={{ margin: 0 }} data-testid="release-spread">
                {col.spread.map((g) => `${g.release ? g.release.name : 'nothing deployed'} on ${g.count} of ${col.total}`).join(' · ')}
              </p>
            ) : null}
            {col.releaseSince ? (
              <p className="small muted" style={{ margin: 0 }}>
                deployed <When at={col.releaseSince} />
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
          <span className="row">
            {col.drifted ? <Badge status="drift" label={`drift: ${col.drifted}`} /> : null}
            {col.unobservable ? <Badge status="unknown" label={`unobservable: ${col.unobservable}`} /> : null}
            {col.waiting ? <Badge status="waiting" label={`waiting: ${col.waiting}`} /> : null}
          </span>
        </div>
        <HealthBar health={col.health} total={col.total} />
        <ul className="plain small">
          {col.targets.map((t) => (
            <li key={t.id} className="spread">
              <Link to={`/targets/${t.id}`}>{t.name}</Link>
              <span className="row">
                {t.driftDetected ? <Badge status="drift" label="drift" /> : null}
                {t.observationState === 'unobservable' ? <Badge status="unknown" label="unobservable" /> : null}
                {t.waitingReason ? <Badge status="waiting" label="waiting" /> : null}
                <Badge status={t.healthStatus} />
              </span>
            </li>
          ))}
        </ul>
        {col.total > col.targets.length ? (
          <Link className="small" to={`/targets?environment=${env.name}`}>
            all {col.total} targets
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
      {col.waitingTargets.length ? (
        <ul className="plain small" data-testid="waiting-reasons">
          {col.waitingTargets.slice(0, 3).map((t) => (
            <li key={t.id} className="muted">
              <Link to={`/targets/${t.id}`}>{t.name}</Link>: {t.waitingReason}
            </li>
          ))}
        </ul>
      ) : null}
      <section className="row">
        {canPromoteHere ? (
          <button type="button" onClick={() => onPromote(env)} aria-label={`Promote here: a release to ${env.name}`}>
            Promote here
          </button>
        ) : null}
        {next && release && canPromoteNext ? (
          <button type="button" className="primary" onClick={() => onPromote(next.env, release)}>
            Promote {release.name} to {next.env.name} →
          </button>
        ) : null}
        {col.actions ? null : <span className="muted small">Checking what can be promoted…</span>}
        {whyNot ? (
          <p className="muted small" data-testid="no-promote" style={{ margin: 0 }}>
            {whyNot}
          </p>
        ) : null}
      </section>
    </article>
  );
}

export function Home() {
  useTitle('Pipeline');
  const state = useApi(() => preloaded('pipeline', loadPipeline), []);
  // What this user may promote where: one request for every environment, loaded beside the pipeline (not
  // after it), so the pipeline shows as soon as its own data is in and its actions follow. Both may have
  // been started already, while the app confirmed the token (preloadHome).
  const actions = useApi(() => preloaded('next-actions', nextActionsByEnv), []);
  const columns = useMemo(() => (state.data ? buildColumns(state.data, actions.data) : []), [state.data, actions.data]);
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
            next={columns[i + 1]}
            onPromote={(target, release) => setPromote({ target, ...(release ? { release } : {}) })}
          />
        ))}
      </div>
      {promote && state.data ? (
        <PromoteDialog target={promote.target} releaseId={promote.release?.id} onClose={() => setPromote(undefined)} />
      ) : null}
    </>
  );
}
