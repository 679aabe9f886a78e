// A deployment job: strategy progress (batches or canary waves) with each wave's verification window, one
// task per target with what its runner observed after the change, live logs (polled with a cursor while
// the job runs), artifacts, and cancel / resume / roll back. A job with many tasks lists them in a scrolling
// box that renders only the rows in view (@tanstack/react-virtual), so a 1,000-target job stays responsive.
// The first tasks are shown before all of them are in, and while the job runs only the tasks written since
// the previous answer are fetched (GET /deployments/{id}/tasks with changedSince), not every task again.
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useMemo, useRef, useState } from 'react';
import { api, unwrap } from '../api/client';
import type { Artifact, DeploymentJob, DeploymentTask, DeploymentTasksPage, LogLine, Query } from '../api/types';
import { PlanTable } from '../components/Plan';
import { ActionButton, Badge, Digest, ErrorBox, Loading, Time } from '../components/ui';
import { useSession } from '../lib/auth';
import { preload, preloaded } from '../lib/data';
import { Link, navigate, useTitle } from '../lib/router';
import { useApi } from '../lib/useApi';

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

/** The job's log lines, polled with a cursor while it runs; from when `ready` (the tasks come first). */
function useLogs(id: string, live: boolean, ready: boolean) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const cursor = useRef(0);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    if (!ready) return;
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        for (;;) {
          const page = await unwrap(
            api.GET('/api/v1/deployments/{id}/logs', { params: { path: { id }, query: { after: cursor.current, limit: 1000 } } }),
          );
          if (stop) return;
          if (page.lines.length) setLines((ls) => [...ls, ...page.lines]);
          cursor.current = page.next;
          if (page.lines.length < 1000) break;
        }
        setError(undefined);
      } catch (err) {
        setError(err);
      }
      if (!stop && live) timer = setTimeout(tick, 1000);
    };
    void tick();
    return () => {
      stop = true;
      if (timer) clearTimeout(timer);
    };
  }, [id, live, ready]);
  return { lines, error };
}

/** How many tasks the first answer lists: more than the rows in view (the list is virtualised). */
const FIRST_TASKS = 50;
/** The page size when every task, or every changed task, is fetched. */
const ALL_TASKS = 5000;

/** The job and the tasks known so far (in the job's order: batch, then target name). */
interface JobView {
  job: DeploymentJob;
  planSummary: DeploymentTasksPage['planSummary'];
  tasks: DeploymentTask[];
  /** The total number of tasks (from the job's counts), also while only the first ones are in. */
  total: number;
}

const totalOf = (job: DeploymentJob) => Object.values(job.counts).reduce((n, c) => n + c, 0);

function tasksPage(id: string, query: Query<'/api/v1/deployments/{id}/tasks'>): Promise<DeploymentTasksPage> {
  return unwrap(api.GET('/api/v1/deployments/{id}/tasks', { params: { path: { id }, query } }));
}

/** Every task (or every task written since `changedSince`), page by page; the job and `changes` of the first page. */
async function everyTask(id: string, changedSince?: string): Promise<DeploymentTasksPage> {
  const first = await tasksPage(id, { limit: ALL_TASKS, ...(changedSince ? { changedSince } : {}) });
  const items = [...first.items];
  let last = first;
  while (last.nextCursor) {
    last = await tasksPage(id, { limit: ALL_TASKS, cursor: last.nextCursor, ...(changedSince ? { changedSince } : {}) });
    items.push(...last.items);
  }
  return { ...first, items, job: last.job, nextCursor: null };
}

const firstTasks = (id: string) => tasksPage(id, { limit: FIRST_TASKS });

/**
 * Starts the first tasks' request, and the one for all of them, before sign-in is confirmed (main.tsx, when
 * the app opens at a deployment with a token).
 */
export function preloadDeployment(id: string): void {
  preload(`deployment-tasks:${id}`, () => firstTasks(id));
  preload(`deployment-all:${id}`, () => everyTask(id));
}

/**
 * The job and its tasks. The first load asks for the first tasks and for all of them at once and shows the
 * first ones as soon as they are in; later loads (polling, live changes) ask only for the tasks written since
 * the previous answer and merge them. A task not seen before (a queued job that started) reloads them all.
 */
function useJob(id: string, pollMs: number) {
  const known = useRef<{ id: string; tasks?: DeploymentTask[]; since?: string; all?: Promise<DeploymentTasksPage> }>({ id });
  const state = useApi(
    async (): Promise<JobView> => {
      if (known.current.id !== id) known.current = { id };
      const k = known.current;
      const whole = (p: DeploymentTasksPage): JobView => {
        k.tasks = p.items;
        k.since = p.changes;
        return { job: p.job, planSummary: p.planSummary, tasks: p.items, total: totalOf(p.job) };
      };
      if (k.since === undefined || !k.tasks) {
        if (!k.all) {
          const all = preloaded(`deployment-all:${id}`, () => everyTask(id));
          k.all = all;
          // When every task is in, load again: that load takes them.
          all.then(
            () => (known.current === k ? state.reload() : undefined),
            () => undefined,
          );
          const first = await preloaded(`deployment-tasks:${id}`, () => firstTasks(id));
          if (!first.nextCursor) {
            k.all = undefined;
            return whole(first);
          }
          return { job: first.job, planSummary: first.planSummary, tasks: first.items, total: totalOf(first.job) };
        }
        const all = k.all;
        k.all = undefined;
        return whole(await all);
      }
      const changed = await everyTask(id, k.since);
      const byId = new Map(changed.items.map((t) => [t.id, t]));
      const have = new Set(k.tasks.map((t) => t.id));
      if (changed.items.some((t) => !have.has(t.id))) return whole(await everyTask(id));
      if (byId.size) k.tasks = k.tasks.map((t) => byId.get(t.id) ?? t);
      k.since = changed.changes;
      return { job: changed.job, planSummary: changed.planSummary, tasks: k.tasks, total: totalOf(changed.job) };
    },
    [id],
    { pollMs },
  );
  return state;
}

/** The plan a job executes, fetched when it is opened (GET /deployments/{id} carries it with every task). */
function JobPlan({ id, summary }: { id: string; summary: NonNullable<JobView['planSummary']> }) {
  const [open, setOpen] = useState(false);
  const plan = useApi(async () => (await unwrap(api.GET('/api/v1/deployments/{id}', { params: { path: { id } } }))).plan, [id], {
    enabled: open,
    live: false,
  });
  return (
    <details data-testid="job-plan" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>The plan this job executes ({summary.deploy} target(s) change)</summary>
      <ErrorBox error={plan.error} title="Could not load the plan" />
      {open && !plan.data ? <Loading what="Loading the plan" /> : null}
      {plan.data ? <PlanTable plan={plan.data} /> : null}
    </details>
  );
}

function Progress({ job, tasks }: { job: DeploymentJob; tasks: DeploymentTask[] }) {
  const cfg = job.strategyConfig as { waves?: number[]; batchSize?: number; batchPercent?: number };
  const batches = Array.from({ length: Math.max(1, job.batchCount) }, (_, i) => i);
  const label = job.strategy === 'canary' ? 'Wave' : 'Batch';
  // Grouped once: one pass over the tasks, not one per batch.
  const byBatch = new Map<number, DeploymentTask[]>();
  for (const t of tasks) byBatch.set(t.batch, [...(byBatch.get(t.batch) ?? []), t]);
  return (
    <ol className="steps" aria-label="Strategy progress">
      {batches.map((b) => {
        const tasks = byBatch.get(b) ?? [];
        const done = tasks.length > 0 && tasks.every((t) => FINISHED.has(t.status) || t.status === 'skipped');
        const failed = tasks.some((t) => t.status === 'failed');
        const status = failed ? 'failed' : done ? 'succeeded' : b === job.currentBatch && job.status === 'running' ? 'running' : 'pending';
        const wave = job.strategy === 'canary' && cfg.waves?.[b] !== undefined ? ` (${cfg.waves[b]}%)` : '';
        return (
          <li key={b} className="step">
            <Badge status={status} label={`${label} ${b + 1}${wave}: ${tasks.length} target(s)`} />
          </li>
        );
      })}
    </ol>
  );
}

/** Each canary wave's verification window (from/until) and result, the one under way included. */
function Verification({ job }: { job: DeploymentJob }) {
  const rows = job.verification.map((v) => ({ ...v, current: false }));
  if (job.verifyUntil && job.verifyStartedAt) {
    rows.push({
      wave: job.currentBatch + 1,
      batch: job.currentBatch,
      startedAt: job.verifyStartedAt,
      until: job.verifyUntil,
      endedAt: '',
      outcome: 'passed',
      unhealthy: [],
      targets: [],
      current: true,
    });
  }
  if (rows.length === 0) return null;
  return (
    <>
      <h2>Wave verification</h2>
      <div className="table-wrap">
        <table data-testid="wave-verification">
          <thead>
            <tr>
              <th scope="col">Wave</th>
              <th scope="col">Window from</th>
              <th scope="col">Until</th>
              <th scope="col">Result</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((v) => (
              <tr key={v.wave}>
                <td>{v.wave}</td>
                <td>
                  <Time at={v.startedAt} />
                </td>
                <td>
                  <Time at={v.until} />
                </td>
                <td>
                  {v.current ? (
                    <Badge status="running" label="verifying" />
                  ) : (
                    <Badge status={v.outcome === 'passed' ? 'succeeded' : 'failed'} label={v.outcome} />
                  )}
                  {v.unhealthy.length ? <div className="small">Unhealthy: {v.unhealthy.join(', ')}</div> : null}
                  {v.endedAt ? (
                    <div className="small muted">
                      ended <Time at={v.endedAt} />
                    </div>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

/** What the runner observed after the change, per container: id, digest, health, time (the proof of convergence). */
function Observed({ t }: { t: DeploymentTask }) {
  if (t.observed.length === 0) return <span className="muted">—</span>;
  if (t.action === 'remove') {
    const gone = t.observed.every((o) => o.containerId === null);
    return (
      <span>
        {gone
          ? 'removed: no container left'
          : `left: ${t.observed
              .filter((o) => o.containerId)
              .map((o) => o.containerName)
              .join(', ')}`}
      </span>
    );
  }
  return (
    <>
      {t.observed.map((o) => (
        <div key={o.containerName}>
          {o.containerName} {o.containerId ? <code>{o.containerId.slice(0, 12)}</code> : null} <Digest value={o.digest} />{' '}
          {o.health ? (
            <Badge
              status={o.health.status === 'healthy' ? 'succeeded' : o.health.status === 'skipped' ? 'pending' : 'failed'}
              label={o.health.status}
            />
          ) : null}{' '}
          <Time at={o.observedAt ?? null} />
        </div>
      ))}
    </>
  );
}

interface RowPlace {
  /** The row's position in the whole list (0-based), for aria-rowindex and the virtualiser's measurements. */
  index: number;
  measure: (el: HTMLTableRowElement | null) => void;
}

function TaskRow({ t, selected, onSelect, place }: { t: DeploymentTask; selected: boolean; onSelect: () => void; place?: RowPlace }) {
  return (
    <tr aria-selected={selected} {...(place ? { ref: place.measure, 'data-index': place.index, 'aria-rowindex': place.index + 2 } : {})}>
      <td>
        <Link to={`/targets/${t.targetId}`}>{t.targetName}</Link>
        <div className="small muted">{t.targetType}</div>
      </td>
      <td>{t.batch + 1}</td>
      <td>
        <Badge status={t.status} />
        {t.action === 'remove' ? <div className="small">removes what Gantry created (first deployment)</div> : null}
        {t.attempt > 1 ? <span className="small muted"> attempt {t.attempt}</span> : null}
        {t.error ? (
          <div className="small" style={{ color: 'var(--bad)' }}>
            {t.error}
          </div>
        ) : null}
        {t.waitingReason ? (
          <div className="small" style={{ color: 'var(--warn)' }}>
            Waiting: {t.waitingReason}
          </div>
        ) : null}
      </td>
      <td className="small">
        {t.components.map((c) => (
          <div key={c.name}>
            {c.name}: <Digest value={c.previousDigest} /> → <Digest value={c.digest} />
          </div>
        ))}
      </td>
      <td className="small">
        <Observed t={t} />
      </td>
      <td>
        <Time at={t.completedAt ?? t.startedAt} />
      </td>
      <td>
        <button type="button" onClick={onSelect} aria-pressed={selected}>
          {selected ? 'All logs' : 'Logs'}
        </button>
      </td>
    </tr>
  );
}

/** From this many tasks on, the list scrolls in its own box and renders only the rows in view. */
const VIRTUAL_FROM = 60;

/** One row per task; a long list (VIRTUAL_FROM) is virtualised: the rows in view plus a few, and spacers for the rest. */
function TaskTable({
  job,
  tasks,
  total,
  selected,
  onSelect,
}: {
  job: DeploymentJob;
  tasks: DeploymentTask[];
  total: number;
  selected: string | undefined;
  onSelect: (task: string) => void;
}) {
  // By the job's size, not by the tasks in so far: the first of many are virtualised from the start.
  const many = Math.max(total, tasks.length) >= VIRTUAL_FROM;
  const box = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: tasks.length,
    getScrollElement: () => box.current,
    // A row with one component and what was observed is about 120 px high; each row is measured once shown.
    estimateSize: () => 120,
    overscan: 6,
    enabled: many,
    getItemKey: (i) => tasks[i]?.id ?? i,
  });
  const items = many ? virtual.getVirtualItems() : [];
  const before = items[0]?.start ?? 0;
  const after = items.length ? virtual.getTotalSize() - items[items.length - 1]!.end : 0;
  const row = (t: DeploymentTask, place?: RowPlace) => (
    <TaskRow key={t.id} t={t} selected={selected === t.id} onSelect={() => onSelect(t.id)} {...(place ? { place } : {})} />
  );
  return (
    <div className={many ? 'table-wrap task-scroll' : 'table-wrap'} ref={box} data-testid="task-list">
      <table {...(many ? { 'aria-rowcount': Math.max(total, tasks.length) + 1 } : {})}>
        <thead>
          <tr>
            <th scope="col">Target</th>
            <th scope="col">{job.strategy === 'canary' ? 'Wave' : 'Batch'}</th>
            <th scope="col">Status</th>
            <th scope="col">Digests (previous → new)</th>
            <th scope="col">Observed after the change</th>
            <th scope="col">Updated</th>
            <th scope="col">
              <span className="sr-only">Logs</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {many ? (
            <>
              {before > 0 ? (
                <tr className="spacer" style={{ height: before }}>
                  <td colSpan={7} />
                </tr>
              ) : null}
              {items.map((v) => row(tasks[v.index]!, { index: v.index, measure: virtual.measureElement }))}
              {after > 0 ? (
                <tr className="spacer" style={{ height: after }}>
                  <td colSpan={7} />
                </tr>
              ) : null}
            </>
          ) : (
            tasks.map((t) => row(t))
          )}
        </tbody>
      </table>
    </div>
  );
}

export function DeploymentDetail({ id }: { id: string }) {
  useTitle(`Deployment ${id.slice(0, 8)}`);
  const { hasRole } = useSession();
  const [live, setLive] = useState(true);
  const state = useJob(id, live ? 1500 : 0);
  const status = state.data?.job.status;
  useEffect(() => {
    if (status) setLive(!FINISHED.has(status));
  }, [status]);
  // The logs (below the tasks) are asked for once the first tasks are in, not beside them.
  const logs = useLogs(id, live, state.data !== undefined);
  const [taskFilter, setTaskFilter] = useState<string>();
  const [artifact, setArtifact] = useState<Artifact>();
  const logRef = useRef<HTMLPreElement>(null);
  const shown = useMemo(() => logs.lines.filter((l) => !taskFilter || l.taskId === taskFilter), [logs.lines, taskFilter]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll when lines arrive
  useEffect(() => {
    const el = logRef.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [shown.length]);

  if (state.error) return <ErrorBox error={state.error} title="Could not load the deployment" />;
  if (!state.data) return <Loading />;
  const { job, tasks, total, planSummary } = state.data;
  const canDeploy = hasRole('release_manager', 'deployer');
  const act = async (action: 'cancel' | 'resume' | 'rollback') => {
    const params = { params: { path: { id } } };
    if (action === 'rollback') {
      const res = await unwrap(api.POST('/api/v1/deployments/{id}/rollback', params));
      navigate(`/deployments/${res.id}`);
    } else {
      await unwrap(
        action === 'cancel' ? api.POST('/api/v1/deployments/{id}/cancel', params) : api.POST('/api/v1/deployments/{id}/resume', params),
      );
      setLive(true);
      await state.reload();
    }
  };

  return (
    <>
      <p className="small">
        <Link to="/deployments">Deployments</Link> /
      </p>
      <div className="spread">
        <h1>
          {job.rollbackOf ? 'Rollback' : 'Deployment'} of <Link to={`/releases/${job.releaseName}`}>{job.releaseName}</Link> to{' '}
          {job.environmentName} <Badge status={job.status} />
        </h1>
        {canDeploy ? (
          <div className="row">
            {job.pausedReason && !FINISHED.has(job.status) ? (
              <ActionButton className="primary" onAction={() => act('resume')}>
                {job.pausedReason === 'approval' ? 'Approve next wave' : 'Resume'}
              </ActionButton>
            ) : null}
            {!FINISHED.has(job.status) ? (
              <ActionButton className="danger" onAction={() => act('cancel')}>
                Cancel
              </ActionButton>
            ) : null}
            {FINISHED.has(job.status) && job.status !== 'cancelled' ? (
              <ActionButton className="danger" onAction={() => act('rollback')}>
                Roll back
              </ActionButton>
            ) : null}
          </div>
        ) : null}
      </div>
      {job.error ? <div className="alert bad">{job.error}</div> : null}
      {job.waitingReason && !FINISHED.has(job.status) ? (
        <div className="alert warn" role="status" data-testid="waiting-reason">
          Waiting: {job.waitingReason}. The task fails if no agent can serve it within the wait timeout.
        </div>
      ) : null}
      {job.pausedReason ? (
        <div className="alert warn" role="status">
          Paused:{' '}
          {job.pausedReason === 'approval'
            ? 'waiting for approval before the next wave'
            : job.pausedReason === 'verify'
              ? `verifying wave ${job.currentBatch + 1}${job.verifyUntil ? ` until ${new Date(job.verifyUntil).toLocaleString()}` : ' (the window opens at the next sweep)'}`
              : job.pausedReason === 'failure'
                ? 'after failed targets; resuming acknowledges them (they no longer count toward maxFailures) and goes on'
                : job.pausedReason}
        </div>
      ) : null}
      <div className="panel">
        <dl className="kv">
          <dt>Strategy</dt>
          <dd>
            {job.strategy.replaceAll('_', ' ')} <Progress job={job} tasks={tasks} />
          </dd>
          <dt>Promotion</dt>
          <dd>
            {job.promotionId ? <Link to={`/promotions/${job.promotionId}`}>{job.promotionId.slice(0, 8)}</Link> : '— (direct deployment)'}
          </dd>
          {job.rollbackOf ? (
            <>
              <dt>Rolls back</dt>
              <dd>
                <Link to={`/deployments/${job.rollbackOf}`}>{job.rollbackOf.slice(0, 8)}</Link>
              </dd>
            </>
          ) : null}
          <dt>Started</dt>
          <dd>
            <Time at={job.startedAt} />
          </dd>
          <dt>Completed</dt>
          <dd>
            <Time at={job.completedAt} />
          </dd>
          <dt>Tasks</dt>
          <dd>
            {Object.entries(job.counts)
              .map(([k, v]) => `${v} ${k}`)
              .join(', ') || '—'}
          </dd>
        </dl>
      </div>
      {job.acknowledgedFailures > 0 ? (
        <p className="small muted">{job.acknowledgedFailures} failed target(s) acknowledged by resuming after a failure pause.</p>
      ) : null}
      <Verification job={job} />
      {planSummary ? <JobPlan id={id} summary={planSummary} /> : null}
      <h2>Targets</h2>
      <TaskTable
        job={job}
        tasks={tasks}
        total={total}
        selected={taskFilter}
        onSelect={(task) => setTaskFilter(taskFilter === task ? undefined : task)}
      />
      <div className="spread">
        <h2>
          Logs{taskFilter ? ` of ${tasks.find((t) => t.id === taskFilter)?.targetName ?? ''}` : ''}{' '}
          {live ? <Badge status="running" label="live" /> : null}
        </h2>
      </div>
      <ErrorBox error={logs.error} title="Logs unavailable" />
      <pre className="logs" ref={logRef} role="log" aria-label="Deployment logs" data-testid="deployment-logs">
        {shown.length === 0
          ? '(no log lines yet)'
          : shown.map((l) => `${l.at.slice(11, 19)} ${l.targetName} #${l.attempt} ${l.line}`).join('\n')}
      </pre>
      <h2>Artifacts</h2>
      {job.artifacts.length === 0 ? <p className="muted">None.</p> : null}
      <ul className="plain">
        {job.artifacts.map((a) => (
          <li key={`${a.taskId}-${a.name}`}>
            <button
              type="button"
              onClick={async () =>
                setArtifact(await unwrap(api.GET('/api/v1/deployments/{id}/artifacts/{name}', { params: { path: { id, name: a.name } } })))
              }
            >
              {a.name}
            </button>{' '}
            <span className="small muted">{a.mediaType}</span> <Digest value={a.sha256} />
          </li>
        ))}
      </ul>
      {artifact ? (
        <section className="panel" aria-label={`Artifact ${artifact.name}`}>
          <h3>
            {artifact.name} <Digest value={artifact.sha256} full />
          </h3>
          <pre>{artifact.content}</pre>
        </section>
      ) : null}
    </>
  );
}
