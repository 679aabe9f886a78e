// The deployment plan: what a deployment of a release to an environment will do, target by target and
// component by component, computed before anyone approves it (promotions, dry runs, direct deployments
// and rollbacks use the same function as job creation, so what is shown is what runs). The plan has a
// hash over everything that decides the actions; approvals are given for a hash (promotions/service.ts).
import { GantryError, NotFoundError } from '../core/errors.js';
import { UUID_RE } from '../core/ids.js';
import {
  canonicalJson,
  componentConfigHash,
  type Strategy,
  type StrategyConfig,
  sha256Of,
  strategyConfig,
  type TaskComponent,
} from '../protocol/deployment.js';
import { zeroDowntimeBlocker } from '../protocol/zero-downtime.js';
import type { Tx } from '../store/db.js';
import { planBatches } from './batches.js';

export type ComponentAction = 'create' | 'recreate' | 'unchanged' | 'remove' | 'keep';

export interface PlannedComponent {
  name: string;
  image: string;
  action: ComponentAction;
  fromDigest: string | null;
  toDigest: string | null;
  /** componentConfigHash of the settings it will run with (null for a removal). */
  configHash: string | null;
  /** The settings it runs with now, when known (the job that last deployed it). */
  fromConfigHash: string | null;
  why: string;
}

export interface PlannedTarget {
  targetId: string;
  name: string;
  targetType: string;
  /** deploy: something changes; unchanged: the agent only verifies; skip: not part of the deployment. */
  action: 'deploy' | 'unchanged' | 'remove' | 'skip';
  /** Batch (rolling) or wave (canary) index, from 0; null when skipped. */
  batch: number | null;
  /** How the target changes over: in place, or a new colour beside the old one behind the router. */
  mode: 'in_place' | 'new_colour' | null;
  drift: boolean;
  components: PlannedComponent[];
  why: string;
}

export interface DeploymentPlan {
  schema: 'gantry.plan/v1';
  release: { id: string; name: string };
  environment: { id: string; name: string };
  strategy: Strategy;
  strategyConfigHash: string;
  batchCount: number;
  targets: PlannedTarget[];
  summary: { deploy: number; unchanged: number; remove: number; skip: number; create: number; recreate: number; removeComponents: number };
  /** sha256 over the canonical JSON of everything above. */
  hash: string;
}

export interface PlanInput {
  tenantId: string;
  releaseRef: string;
  environmentRef: string;
  strategy?: Strategy | undefined;
  strategyConfig?: Record<string, unknown> | undefined;
  /** Rollbacks: the components each target returns to (target id → components); other targets are skipped. */
  componentsByTarget?: Map<string, TaskComponent[]> | undefined;
  /** Rollbacks: targets whose components are removed (their first-ever deployment is undone). */
  removeFrom?: Set<string> | undefined;
  /** Only these targets (ids) take part; the environment's other targets are skipped (target-group rollouts). */
  onlyTargets?: ReadonlySet<string> | undefined;
  /** The strategy a rollback uses (decided by create.ts from the rolled-back job). */
  rollbackOf?: string | null | undefined;
  /** The release and environment as the caller read them in this transaction: not read again. */
  known?: { release?: ReleaseRow | undefined; environment?: EnvironmentRow | undefined } | undefined;
}

export interface ReleaseRow {
  id: string;
  name: string;
  status: string;
  components: { component: string; imageRepository: string; digest: string }[];
}

export interface TargetRow {
  id: string;
  name: string;
  target_type: string;
  labels: Record<string, string>;
  current_digest: string | null;
  current_components: { name: string; image: string; digest: string }[];
  current_release_id: string | null;
  drift_detected: boolean;
  drift: { component: string | null; field: string; expected: string | null; actual: string | null }[];
}

/** What a plan is computed from, loaded once (create.ts inserts the job from the same pieces). */
export interface PlanBasis {
  release: ReleaseRow;
  environment: { id: string; name: string };
  strategy: Strategy;
  config: StrategyConfig;
  /** Targets that take part, in name order, with their batch. */
  targets: TargetRow[];
  batches: number[];
  batchCount: number;
  /** Targets of the environment left out, and why. */
  skipped: { target: TargetRow; why: string }[];
  componentsByTarget?: Map<string, TaskComponent[]> | undefined;
  removeFrom?: Set<string> | undefined;
  /** Per target: the strategy config of the job that last deployed it (for the config it runs with now). */
  lastConfig: Map<string, StrategyConfig>;
}

export async function loadRelease(tx: Tx, tenantId: string, ref: string): Promise<ReleaseRow> {
  const rel = await tx.query<ReleaseRow>(
    `SELECT id, name, status, components FROM releases WHERE tenant_id = $2 AND ${UUID_RE.test(ref) ? 'id = $1::uuid' : 'name = $1'}`,
    [ref, tenantId],
  );
  if (!rel.rows[0]) throw new NotFoundError('Release', ref);
  return rel.rows[0];
}

export type EnvironmentRow = Awaited<ReturnType<typeof loadEnvironment>>;

export async function loadEnvironment(tx: Tx, tenantId: string, ref: string) {
  const r = await tx.query<{
    id: string;
    name: string;
    config: {
      deployment?: Partial<StrategyConfig> & { strategy?: Strategy };
      autoRollback?: boolean;
      targetSelector?: Record<string, string>;
    };
  }>(`SELECT id, name, config FROM environments WHERE tenant_id = $2 AND ${UUID_RE.test(ref) ? 'id = $1::uuid' : 'name = $1'}`, [
    ref,
    tenantId,
  ]);
  if (!r.rows[0]) throw new NotFoundError('Environment', ref);
  return r.rows[0];
}

/**
 * The strategy and config a job of this environment runs with: the environment's config.deployment with
 * the request's overrides; a rollback deploys all at once (blue_green again after blue_green) and keeps the
 * rolled-back job's router.
 */
export async function resolveStrategy(
  tx: Tx,
  env: EnvironmentRow,
  input: Pick<PlanInput, 'strategy' | 'strategyConfig' | 'rollbackOf'>,
): Promise<{ strategy: Strategy; config: StrategyConfig }> {
  const { strategy: envStrategy, ...envDeployment } = env.config.deployment ?? {};
  const rolledBack = input.rollbackOf
    ? (
        await tx.query<{ strategy: Strategy; strategy_config: StrategyConfig }>(
          'SELECT strategy, strategy_config FROM deployment_jobs WHERE id = $1',
          [input.rollbackOf],
        )
      ).rows[0]
    : undefined;
  const strategy: Strategy = input.rollbackOf
    ? rolledBack?.strategy === 'blue_green'
      ? 'blue_green'
      : 'all_at_once'
    : (input.strategy ?? envStrategy ?? 'all_at_once');
  const config: StrategyConfig = strategyConfig.parse({ ...envDeployment, ...(input.strategyConfig ?? {}) });
  if (!config.router && rolledBack?.strategy_config.router) config.router = rolledBack.strategy_config.router;
  return { strategy, config };
}

/**
 * The environment's targets split into those the deployment reaches (label selector, rollback set or the
 * targets asked for) and the rest.
 */
export async function selectTargets(
  tx: Tx,
  env: { id: string; name: string; config: { targetSelector?: Record<string, string> } },
  only?: { has(id: string): boolean },
  onlyWhy = 'the rolled-back deployment did not change it',
): Promise<{ targets: TargetRow[]; skipped: { target: TargetRow; why: string }[] }> {
  const selector = env.config.targetSelector ?? {};
  const all = await tx.query<TargetRow & { selected: boolean }>(
    `SELECT id, name, target_type, labels, current_digest, current_components, current_release_id, drift_detected, drift,
            labels @> $2::jsonb AS selected
       FROM targets WHERE environment_id = $1 ORDER BY name`,
    [env.id, JSON.stringify(selector)],
  );
  const targets: TargetRow[] = [];
  const skipped: { target: TargetRow; why: string }[] = [];
  for (const { selected, ...t } of all.rows) {
    if (!selected)
      skipped.push({ target: t, why: `its labels do not match the environment's target selector ${JSON.stringify(selector)}` });
    else if (only && !only.has(t.id)) skipped.push({ target: t, why: onlyWhy });
    else targets.push(t);
  }
  if (targets.length === 0) {
    throw new GantryError(
      'no_targets',
      422,
      `Environment "${env.name}" has no targets${Object.keys(selector).length ? ` with labels ${JSON.stringify(selector)}` : ''}; add one with gantry target create.`,
    );
  }
  return { targets, skipped };
}

export async function lastConfigs(tx: Tx, targetIds: string[]): Promise<Map<string, StrategyConfig>> {
  if (targetIds.length === 0) return new Map();
  const r = await tx.query<{ target_id: string; strategy_config: StrategyConfig }>(
    `SELECT DISTINCT ON (t.target_id) t.target_id, j.strategy_config
       FROM deployment_tasks t JOIN deployment_jobs j ON j.id = t.job_id
      WHERE t.target_id = ANY($1::uuid[]) AND t.status = 'succeeded' AND t.action = 'deploy'
      ORDER BY t.target_id, t.completed_at DESC NULLS LAST, t.id DESC`,
    [targetIds],
  );
  return new Map(r.rows.map((x) => [x.target_id, x.strategy_config]));
}

/** Loads everything a plan (and the job that executes it) is made of. */
export async function planBasis(tx: Tx, input: PlanInput): Promise<PlanBasis> {
  const release = input.known?.release ?? (await loadRelease(tx, input.tenantId, input.releaseRef));
  const env = input.known?.environment ?? (await loadEnvironment(tx, input.tenantId, input.environmentRef));
  const { strategy, config } = await resolveStrategy(tx, env, input);
  return basisFor(tx, release, env, strategy, config, input);
}

/** The basis for a release, environment and strategy already resolved (job creation, queued job start). */
export async function basisFor(
  tx: Tx,
  release: ReleaseRow,
  env: EnvironmentRow,
  strategy: Strategy,
  config: StrategyConfig,
  input: Pick<PlanInput, 'componentsByTarget' | 'removeFrom' | 'onlyTargets'> = {},
): Promise<PlanBasis> {
  const { targets, skipped } = input.componentsByTarget
    ? await selectTargets(tx, env, input.componentsByTarget)
    : await selectTargets(tx, env, input.onlyTargets, 'not one of the targets this deployment was asked for');
  const { batches, count } = planBatches(targets.length, strategy, config);
  return {
    release,
    environment: { id: env.id, name: env.name },
    strategy,
    config,
    targets,
    batches,
    batchCount: count,
    skipped,
    componentsByTarget: input.componentsByTarget,
    removeFrom: input.removeFrom,
    lastConfig: await lastConfigs(
      tx,
      targets.map((t) => t.id),
    ),
  };
}

/** The components a target's task carries: the release's (or the rollback's), each with what runs now. */
export function taskComponents(basis: PlanBasis, t: TargetRow): TaskComponent[] {
  const prev = new Map(t.current_components.map((c) => [c.name, c.digest]));
  return (
    basis.componentsByTarget?.get(t.id) ??
    basis.release.components.map((c) => ({
      name: c.component,
      image: c.imageRepository,
      digest: c.digest,
      previousDigest: prev.get(c.component) ?? null,
    }))
  );
}

/**
 * Whether the target changes over to a new colour beside the old one: a router and, for every component,
 * a port that differs per colour (the executors' rule; zeroDowntimeBlocker states it for compose_host and
 * the docker_host executor checks the same on the resolved ports).
 */
function changesOverBeside(targetType: string, strategy: Strategy, config: StrategyConfig, components: string[]): boolean {
  if (targetType === 'compose_host' || targetType === 'docker_host')
    return zeroDowntimeBlocker('compose_host', config, components) === null;
  return strategy === 'blue_green';
}

function planTarget(basis: PlanBasis, t: TargetRow, batch: number): PlannedTarget {
  const wanted = taskComponents(basis, t);
  const names = wanted.map((c) => c.name);
  const current = new Map(t.current_components.map((c) => [c.name, c]));
  const before = basis.lastConfig.get(t.id);
  const base = { targetId: t.id, name: t.name, targetType: t.target_type, batch, drift: t.drift_detected };
  if (basis.removeFrom?.has(t.id)) {
    const components = t.current_components.map(
      (c): PlannedComponent => ({
        name: c.name,
        image: c.image,
        action: 'remove',
        fromDigest: c.digest,
        toDigest: null,
        configHash: null,
        fromConfigHash: before ? componentConfigHash(before, c.name) : null,
        why: 'its first deployment is undone',
      }),
    );
    return {
      ...base,
      action: 'remove',
      mode: null,
      components,
      why: 'the rolled-back deployment was its first: its containers are removed',
    };
  }
  const beside = changesOverBeside(t.target_type, basis.strategy, basis.config, names);
  // Drift on a component (missing, stopped, another image): the agent sees it is not as planned and re-creates it.
  const drifted = new Map(
    t.drift_detected
      ? t.drift.filter((d) => d.component && ['container', 'digest', 'running'].includes(d.field)).map((d) => [d.component!, d])
      : [],
  );
  const inPlaceCompose = t.target_type === 'compose_host' && !beside;
  const components: PlannedComponent[] = wanted.map((c) => {
    const now = current.get(c.name);
    const configHash = componentConfigHash(basis.config, c.name);
    const fromConfigHash = now && before ? componentConfigHash(before, c.name) : null;
    const common = { name: c.name, image: c.image, fromDigest: now?.digest ?? null, toDigest: c.digest, configHash, fromConfigHash };
    if (!now) return { ...common, action: 'create', why: 'not on the target yet' };
    const digestChanges = now.digest !== c.digest;
    const configChanges = fromConfigHash !== null && fromConfigHash !== configHash;
    const reasons = [digestChanges ? 'new image digest' : '', configChanges ? 'new settings' : ''].filter(Boolean).join(' and ');
    if (digestChanges || configChanges) return { ...common, action: 'recreate', why: reasons };
    const d = drifted.get(c.name);
    if (d)
      return { ...common, action: 'recreate', why: `drift: ${d.field} is ${d.actual ?? 'missing'}, recorded ${d.expected ?? 'present'}` };
    return { ...common, action: 'unchanged', why: 'same image digest and settings' };
  });
  const changing = components.some((c) => c.action !== 'unchanged');
  const leftovers = t.current_components.filter((c) => !names.includes(c.name));
  for (const c of leftovers) {
    // compose removes services the lock file no longer has (--remove-orphans), as does a new colour project;
    // docker_host leaves containers of components the release does not have.
    const removes = t.target_type === 'compose_host';
    components.push({
      name: c.name,
      image: c.image,
      action: removes ? 'remove' : 'keep',
      fromDigest: c.digest,
      toDigest: null,
      configHash: null,
      fromConfigHash: before ? componentConfigHash(before, c.name) : null,
      why: removes ? 'not in this release: compose removes its service' : 'not in this release: left running as it is',
    });
  }
  const removesSome = components.some((c) => c.action === 'remove');
  if (!changing && !removesSome) {
    return {
      ...base,
      action: 'unchanged',
      mode: null,
      components,
      why: 'already runs this release with these settings: the agent only verifies it',
    };
  }
  const mode = beside ? 'new_colour' : 'in_place';
  const out = components.map((c) => {
    if (beside && (c.action === 'unchanged' || c.action === 'recreate')) {
      return { ...c, action: 'recreate' as const, why: c.action === 'unchanged' ? 'the new colour runs every component' : c.why };
    }
    if (!inPlaceCompose && c.action === 'unchanged') {
      // docker_host and ssh_host replace every component of a target that changes.
      return { ...c, action: 'recreate' as const, why: 'replaced with the rest of the target' };
    }
    return c;
  });
  const why = beside
    ? 'a new colour starts beside the serving one; the router moves traffic once it is healthy'
    : inPlaceCompose
      ? 'compose updates the project in place: only the services that change are recreated'
      : 'replaced in place';
  return { ...base, action: 'deploy', mode, components: out, why };
}

/** The plan of a basis (pure), with its hash. */
export function planOf(basis: PlanBasis): DeploymentPlan {
  const targets: PlannedTarget[] = basis.targets.map((t, i) => planTarget(basis, t, basis.batches[i]!));
  for (const s of basis.skipped) {
    targets.push({
      targetId: s.target.id,
      name: s.target.name,
      targetType: s.target.target_type,
      action: 'skip',
      batch: null,
      mode: null,
      drift: s.target.drift_detected,
      components: [],
      why: s.why,
    });
  }
  const all = targets.flatMap((t) => (t.action === 'skip' || t.action === 'unchanged' ? [] : t.components));
  const body: Omit<DeploymentPlan, 'hash'> = {
    schema: 'gantry.plan/v1',
    release: { id: basis.release.id, name: basis.release.name },
    environment: basis.environment,
    strategy: basis.strategy,
    strategyConfigHash: sha256Of(canonicalJson(basis.config)),
    batchCount: basis.batchCount,
    targets,
    summary: {
      deploy: targets.filter((t) => t.action === 'deploy').length,
      unchanged: targets.filter((t) => t.action === 'unchanged').length,
      remove: targets.filter((t) => t.action === 'remove').length,
      skip: targets.filter((t) => t.action === 'skip').length,
      create: all.filter((c) => c.action === 'create').length,
      recreate: all.filter((c) => c.action === 'recreate').length,
      removeComponents: all.filter((c) => c.action === 'remove').length,
    },
  };
  return { ...body, hash: sha256Of(canonicalJson(body)) };
}

/** Computes the plan of deploying a release to an environment now. */
export async function computePlan(tx: Tx, input: PlanInput): Promise<DeploymentPlan> {
  return planOf(await planBasis(tx, input));
}

const short = (d: string | null) => (d ? `${d.slice(0, 19)}…` : 'nothing');

/** How one planned component differs from before, in words, or null when only settings changed and that was said. */
function componentChange(was: PlannedComponent | undefined, c: PlannedComponent, settingsSaid: boolean): string | null {
  if (!was) return `${c.name} is new (${c.action})`;
  const parts: string[] = [];
  if (was.action !== c.action) parts.push(`${was.action} → ${c.action}`);
  if (was.fromDigest !== c.fromDigest) parts.push(`now runs ${short(c.fromDigest)}`);
  if (was.toDigest !== c.toDigest) parts.push(`would run ${short(c.toDigest)}`);
  if (was.configHash !== c.configHash && !settingsSaid) parts.push('its settings changed');
  if (was.fromConfigHash !== c.fromConfigHash) parts.push('runs with other settings now');
  return parts.length ? `${c.name}: ${parts.join(', ')}` : null;
}

/** What differs between two plans, in words (for a promotion whose approvals no longer count). */
export function planChanges(before: DeploymentPlan, after: DeploymentPlan): string[] {
  const out: string[] = [];
  const settingsSaid = before.strategyConfigHash !== after.strategyConfigHash;
  if (before.strategy !== after.strategy) out.push(`the strategy changed from ${before.strategy} to ${after.strategy}`);
  else if (settingsSaid) out.push("the environment's deployment settings changed");
  const old = new Map(before.targets.map((t) => [t.targetId, t]));
  const now = new Map(after.targets.map((t) => [t.targetId, t]));
  for (const t of after.targets) {
    const o = old.get(t.targetId);
    if (!o) {
      out.push(`target ${t.name} joined (${t.action})`);
      continue;
    }
    if (o.action === 'skip' && t.action !== 'skip') out.push(`target ${t.name} is now part of the deployment`);
    else if (o.action !== 'skip' && t.action === 'skip') out.push(`target ${t.name} is no longer part of the deployment (${t.why})`);
    else {
      const parts: string[] = [];
      if (!o.drift && t.drift) parts.push('drift was detected');
      if (o.action !== t.action) parts.push(`${o.action} → ${t.action}`);
      if (o.batch !== t.batch) parts.push(`batch ${o.batch === null ? '-' : o.batch + 1} → ${t.batch === null ? '-' : t.batch + 1}`);
      for (const c of t.components) {
        const d = componentChange(
          o.components.find((x) => x.name === c.name),
          c,
          settingsSaid,
        );
        if (d) parts.push(d);
      }
      for (const c of o.components) if (!t.components.some((x) => x.name === c.name)) parts.push(`${c.name} is no longer planned`);
      if (parts.length) out.push(`target ${t.name}: ${parts.join('; ')}`);
    }
  }
  for (const o of before.targets) if (!now.has(o.targetId)) out.push(`target ${o.name} left the environment`);
  if (out.length === 0 && before.hash !== after.hash) out.push('the plan changed');
  return out;
}
