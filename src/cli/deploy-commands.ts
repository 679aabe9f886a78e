// `gantry deploy create|list|status (get)|logs|cancel|resume`, `gantry rollback ENV [--to RELEASE]` and
// `gantry drift [ENV]`: deployment jobs, their tasks and logs, rollbacks and drift, over the API.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, emit, parseJsonObject } from './api-command.js';
import { ref } from './client.js';
import { CliError, EXIT, printRecord, printTable } from './output.js';
import { type PlanView, printPlan } from './plan-output.js';

interface Task {
  id: string;
  targetName: string;
  targetType: string;
  status: string;
  batch: number;
  attempt: number;
  digest: string;
  error: string | null;
  waitingReason?: string | null;
  action?: 'deploy' | 'remove';
  components?: { name: string; digest: string }[];
  observed?: {
    component: string;
    containerName: string;
    containerId: string | null;
    digest: string | null;
    running: boolean;
    observedAt?: string;
    health?: { status: string; detail: string };
  }[];
}
interface WaveVerification {
  wave: number;
  startedAt: string;
  until: string;
  endedAt: string;
  outcome: string;
  unhealthy: string[];
}
interface Job {
  id: string;
  promotionId: string | null;
  releaseName: string;
  environmentName: string;
  status: string;
  strategy: string;
  currentBatch: number;
  batchCount: number;
  pausedReason: string | null;
  waitingReason?: string | null;
  warnings?: string[];
  rollbackOf: string | null;
  error: string | null;
  counts: Record<string, number>;
  createdAt: string;
  tasks?: Task[];
  acknowledgedFailures?: number;
  verifyStartedAt?: string | null;
  verifyUntil?: string | null;
  verification?: WaveVerification[];
}

interface Attempt {
  attempt: number;
  agentName: string | null;
  runner: string | null;
  leasedAt: string;
  finishedAt: string | null;
  outcome: string;
  error: string | null;
  log: { at: string; line: string }[];
}

const short = (d: string | null) => (d ? `${d.slice(0, 19)}…` : '-');

function printJob(j: Job): void {
  printRecord({
    id: j.id,
    release: j.releaseName,
    environment: j.environmentName,
    status: j.pausedReason ? `${j.status} (paused: ${j.pausedReason})` : j.status,
    waiting: j.waitingReason ?? null,
    warnings: j.warnings?.length ? j.warnings.join('\n') : null,
    strategy: j.strategy,
    batch: `${j.currentBatch + 1}/${j.batchCount}`,
    promotion: j.promotionId,
    rollbackOf: j.rollbackOf,
    acknowledgedFailures: j.acknowledgedFailures ? `${j.acknowledgedFailures} (resumed after failure)` : null,
    error: j.error,
  });
  process.stdout.write('\n');
  printTable(j.tasks ?? [], [
    ['TARGET', (t) => t.targetName],
    ['TYPE', (t) => t.targetType],
    ['BATCH', (t) => t.batch + 1],
    ['ACTION', (t) => t.action ?? 'deploy'],
    ['STATUS', (t) => t.status],
    ['ATTEMPT', (t) => t.attempt],
    ['DIGEST', (t) => short(t.digest)],
    ['OBSERVED', (t) => observedSummary(t)],
    ['ERROR / WAITING', (t) => t.error ?? (t.waitingReason ? `waiting: ${t.waitingReason}` : null)],
  ]);
  const waves = [...(j.verification ?? []).map((v) => ({ ...v, current: false }))];
  if (j.verifyUntil && j.verifyStartedAt) {
    waves.push({
      wave: j.currentBatch + 1,
      startedAt: j.verifyStartedAt,
      until: j.verifyUntil,
      endedAt: '',
      outcome: 'verifying',
      unhealthy: [],
      current: true,
    });
  }
  if (waves.length) {
    process.stdout.write('\nwave verification:\n');
    printTable(waves, [
      ['WAVE', (v) => v.wave],
      ['FROM', (v) => v.startedAt],
      ['UNTIL', (v) => v.until],
      ['RESULT', (v) => v.outcome],
      ['ENDED', (v) => v.endedAt || null],
      ['UNHEALTHY', (v) => v.unhealthy.join(', ') || null],
    ]);
  }
}

/** What the runner observed after the change, in short: "2/2 at pinned digest, healthy", "removed", or what is left. */
function observedSummary(t: Task): string | null {
  const obs = t.observed ?? [];
  if (!obs.length) return null;
  if (t.action === 'remove') return obs.every((o) => o.containerId === null) ? 'removed' : 'containers left';
  if (obs.every((o) => o.health?.status === 'skipped')) return 'dry run (health skipped)';
  const pinned = new Map((t.components ?? []).map((c) => [c.name, c.digest]));
  const proven = obs.filter((o) => o.running && o.health?.status === 'healthy' && o.digest === pinned.get(o.component)).length;
  return `${proven}/${obs.length} at pinned digest, healthy`;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export function registerDeployCommands(program: Command): void {
  const deploy = program.command('deploy').description('Deployment jobs: one task per target, run by agents (or over SSH)');

  apiCommand(deploy, 'create <release> <environment>', 'Deploy a ready release to an environment without a promotion', [
    'gantry deploy create 1.4.0 staging',
    'gantry deploy create 1.4.0 staging --dry-run   # what it would do, per target and component',
    'gantry deploy create 1.4.0 prod --strategy rolling --config \'{"batchSize":2,"failureBehavior":"rollback"}\' --wait',
  ])
    .option('--strategy <name>', 'all_at_once | rolling | canary | blue_green')
    .option('--config <json>', 'strategy config JSON (or @file.json), see docs/deployments.md')
    .option('--wait', 'wait until the job ends; exit 1 unless it succeeded')
    .option('--dry-run', 'print the plan (per target and component: create, recreate, unchanged, remove) and deploy nothing')
    .action(
      async (
        release: string,
        environment: string,
        opts: ApiOpts & { strategy?: string; config?: string; wait?: boolean; dryRun?: boolean },
      ) => {
        const c = clientFor(opts);
        if (opts.dryRun) {
          const plan = await c.post<PlanView>('/deployments/plan', {
            release,
            environment,
            ...(opts.strategy ? { strategy: opts.strategy } : {}),
            ...(opts.config ? { strategyConfig: parseJsonObject(opts.config, '--config') } : {}),
          });
          emit(opts, plan, printPlan);
          return;
        }
        let job = await c.post<Job>('/deployments', {
          releaseId: release,
          environmentId: environment,
          ...(opts.strategy ? { strategy: opts.strategy } : {}),
          ...(opts.config ? { strategyConfig: parseJsonObject(opts.config, '--config') } : {}),
        });
        if (opts.wait) job = await waitFor(c, job.id, opts.json);
        emit(opts, job, printJob);
        if (opts.wait && job.status !== 'succeeded') process.exitCode = EXIT.other;
      },
    );

  apiCommand(deploy, 'list', 'List deployment jobs, newest first', [
    'gantry deploy list --env prod',
    'gantry deploy list --promotion 0190…   # the jobs of one promotion (its deployment and rollbacks)',
  ])
    .option('--env <environment>', 'only this environment')
    .option('--promotion <id>', 'only the jobs of this promotion')
    .action(async (opts: ApiOpts & { env?: string; promotion?: string }) => {
      const items = await clientFor(opts).listAll<Job>('/deployments', { environment: opts.env, promotion: opts.promotion });
      emit(opts, items, (rows) =>
        printTable(rows, [
          ['ID', (j) => j.id],
          ['RELEASE', (j) => j.releaseName],
          ['ENV', (j) => j.environmentName],
          ['STATUS', (j) => j.status],
          ['STRATEGY', (j) => j.strategy],
          ['PROMOTION', (j) => j.promotionId],
          ['WAITING', (j) => j.waitingReason ?? null],
          [
            'TASKS',
            (j) =>
              Object.entries(j.counts)
                .map(([k, v]) => `${k}:${v}`)
                .join(' '),
          ],
          ['ROLLBACK OF', (j) => j.rollbackOf],
          ['CREATED', (j) => j.createdAt],
        ]),
      );
    });

  apiCommand(
    deploy,
    'status <job>',
    "Show a job with its tasks (what each runner observed after the change), each canary wave's verification window and result, and why tasks wait when no online agent can serve their target (aliases: show, get)",
    ['gantry deploy status 0190…', 'gantry deploy show 0190…', 'gantry deploy get 0190… --json'],
  )
    .aliases(['show', 'get'])
    .action(async (id: string, opts: ApiOpts) => {
      emit(opts, await clientFor(opts).get<Job>(`/deployments/${ref(id)}`), printJob);
    });

  apiCommand(deploy, 'attempts <job> <target>', 'Every attempt of one task: agent, lease times, outcome, error and log', [
    'gantry deploy attempts 0190… web-1',
  ]).action(async (id: string, target: string, opts: ApiOpts) => {
    const c = clientFor(opts);
    const job = await c.get<Job>(`/deployments/${ref(id)}`);
    const task = job.tasks?.find((t) => t.targetName === target || t.id === target);
    if (!task) {
      throw new CliError(`job ${job.id} has no task for target "${target}"`, EXIT.notFound, [
        `its targets: ${(job.tasks ?? []).map((t) => t.targetName).join(', ') || 'none'}`,
      ]);
    }
    const r = await c.get<{ items: Attempt[] }>(`/deployments/${ref(job.id)}/tasks/${ref(task.id)}/attempts`);
    emit(opts, r.items, (rows) => {
      printTable(rows, [
        ['ATTEMPT', (a) => a.attempt],
        ['AGENT', (a) => a.agentName ?? a.runner],
        ['LEASED', (a) => a.leasedAt],
        ['FINISHED', (a) => a.finishedAt],
        ['OUTCOME', (a) => a.outcome],
        ['ERROR', (a) => a.error],
      ]);
      for (const a of rows) {
        if (!a.log.length) continue;
        process.stdout.write(`\nattempt ${a.attempt} log:\n`);
        for (const l of a.log) process.stdout.write(`  ${l.at} ${l.line}\n`);
      }
    });
  });

  apiCommand(deploy, 'logs <job>', 'Print the log lines of a job in order', ['gantry deploy logs 0190… --follow'])
    .option('--follow', 'keep printing until the job ends')
    .action(async (id: string, opts: ApiOpts & { follow?: boolean }) => {
      const c = clientFor(opts);
      let after = 0;
      for (;;) {
        const page = await c.get<{ lines: { targetName: string; at: string; line: string }[]; next: number }>(
          `/deployments/${ref(id)}/logs`,
          { after },
        );
        for (const l of page.lines) process.stdout.write(opts.json ? `${JSON.stringify(l)}\n` : `${l.at} [${l.targetName}] ${l.line}\n`);
        after = page.next;
        if (page.lines.length) continue;
        if (!opts.follow || TERMINAL.has((await c.get<Job>(`/deployments/${ref(id)}`)).status)) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
    });

  apiCommand(deploy, 'cancel <job>', 'Cancel a pending or running job').action(async (id: string, opts: ApiOpts) => {
    emit(opts, await clientFor(opts).post<Job>(`/deployments/${ref(id)}/cancel`, {}), printJob);
  });

  apiCommand(deploy, 'resume <job>', 'Resume a job paused after a failure or between canary waves').action(
    async (id: string, opts: ApiOpts) => {
      emit(opts, await clientFor(opts).post<Job>(`/deployments/${ref(id)}/resume`, {}), printJob);
    },
  );

  apiCommand(program, 'rollback <environment>', 'Roll an environment back: undo its latest deployment, or go to a release with --to', [
    'gantry rollback prod',
    'gantry rollback prod --to 1.3.2 --wait',
    'gantry rollback prod --dry-run   # what it would do, per target and component',
  ])
    .option('--to <release>', 'release to return to')
    .option('--wait', 'wait until the rollback job ends')
    .option('--dry-run', 'print the plan the rollback would execute (per target and component) and start nothing')
    .action(async (environment: string, opts: ApiOpts & { to?: string; wait?: boolean; dryRun?: boolean }) => {
      const c = clientFor(opts);
      if (opts.dryRun) {
        const plan = await c.post<PlanView>('/deployments/rollback/plan', { environment, ...(opts.to ? { to: opts.to } : {}) });
        emit(opts, plan, printPlan);
        return;
      }
      let job = await c.post<Job>('/deployments/rollback', { environment, ...(opts.to ? { to: opts.to } : {}) });
      if (opts.wait) job = await waitFor(c, job.id, opts.json);
      emit(opts, job, printJob);
      if (opts.wait && job.status !== 'succeeded') process.exitCode = EXIT.other;
    });

  apiCommand(program, 'drift [environment]', 'Show targets whose running digests or sticker differ from the record', [
    'gantry drift',
    'gantry drift prod --check',
  ])
    .option('--check', 'ask agents to check now and wait for the answers (one heartbeat)')
    .option('--wait <seconds>', 'with --check: how long to wait (default 30)')
    .action(async (environment: string | undefined, opts: ApiOpts & { check?: boolean; wait?: string }) => {
      const c = clientFor(opts);
      const query = environment ? { environment } : {};
      type Row = {
        currentDigest: string | null;
        targetName: string;
        environmentName: string;
        driftDetected: boolean;
        unobservable?: string | null;
        checkedAt: string | null;
        drift: { component: string | null; field: string; expected: string | null; actual: string | null }[];
      };
      if (opts.check) {
        const since = new Date().toISOString();
        await c.post('/drift/check', environment ? { environment } : {});
        const deadline = Date.now() + Number(opts.wait ?? 30) * 1000;
        for (;;) {
          const rows = (await c.get<{ items: Row[] }>('/drift', query)).items;
          // targets with nothing deployed have nothing to compare
          if (rows.every((r) => !r.currentDigest || (r.checkedAt && r.checkedAt >= since)) || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      const { items } = await c.get<{ items: Row[] }>('/drift', query);
      type Line = { r: Row; d: Row['drift'][number] | undefined };
      emit(opts, items, (rows) =>
        printTable<Line>(
          rows.flatMap((r): Line[] => (r.drift.length ? r.drift.map((d) => ({ r, d })) : [{ r, d: undefined }])),
          [
            ['TARGET', (x) => x.r.targetName],
            ['ENV', (x) => x.r.environmentName],
            [
              'DRIFT',
              (x) =>
                !x.r.checkedAt ? 'not checked' : x.r.driftDetected ? 'yes' : x.r.unobservable ? `unobservable: ${x.r.unobservable}` : 'no',
            ],
            ['COMPONENT', (x) => x.d?.component],
            ['WHAT', (x) => x.d?.field],
            ['EXPECTED', (x) => x.d?.expected],
            ['ACTUAL', (x) => x.d?.actual],
          ],
        ),
      );
      if (items.some((r) => r.driftDetected)) process.exitCode = EXIT.other;
    });
}

async function waitFor(c: ReturnType<typeof clientFor>, id: string, quiet?: boolean): Promise<Job> {
  let last = '';
  for (;;) {
    const job = await c.get<Job>(`/deployments/${ref(id)}`);
    const line = `${job.status} ${Object.entries(job.counts)
      .map(([k, v]) => `${k}:${v}`)
      .join(' ')}`;
    if (!quiet && line !== last) process.stderr.write(`deployment ${id}: ${line}\n`);
    last = line;
    if (TERMINAL.has(job.status)) return job;
    await new Promise((r) => setTimeout(r, 1000));
  }
}
