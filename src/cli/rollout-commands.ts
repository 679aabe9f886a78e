// `gantry rollout …`: progressive delivery from the command line. Start an A/B release or a canary from
// a spec file, list and watch rollouts (the split now, each stage and its analysis, what the router
// reports or, for target groups, which targets run each variation and the stage's deployment), and
// decide: advance, promote, roll back, abort.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, emit } from './api-command.js';
import { ref } from './client.js';
import { CliError, EXIT, printRecord, printTable } from './output.js';
import { readObjectFile } from './workflow-commands.js';

interface MetricOut {
  name: string;
  query: string;
  value: number | null;
  threshold: string;
  verdict: string;
  reason: string;
}
interface Step {
  action: string;
  stage: number;
  weight: number;
  actor: string;
  reason: string;
  analysis: { verdict: string; metrics: MetricOut[] } | null;
  evidenceId: string | null;
  at: string;
}
export interface Rollout {
  id: string;
  name: string;
  kind: string;
  status: string;
  statusReason: string | null;
  environment: { name: string };
  mode?: 'router' | 'targets';
  routerTarget: { name: string } | null;
  targetSelector?: Record<string, string> | null;
  variations: { name: string; release: { name: string }; weight: number; targets?: string[] }[];
  stages: { weight: number }[];
  currentStage: number;
  weight: number;
  steps?: Step[];
  traffic?: { status: string; distribution: Record<string, number> | null; error: string | null } | null;
  job?: { id: string; status: string; error: string | null } | null;
}

const FINAL = new Set(['promoted', 'rolled_back', 'aborted', 'failed']);
const split = (r: Rollout) => r.variations.map((v) => `${v.name} (${v.release.name}) ${v.weight}%`).join(' / ');

/** The fields `rollout show` prints: the router and its report, or the target groups and their deployment. */
export function rolloutRecord(r: Rollout): Record<string, unknown> {
  const head = {
    rollout: `${r.name} (${r.id})`,
    kind: r.kind === 'ab' ? 'A/B release' : 'canary',
    environment: r.environment.name,
  };
  const progress = {
    status: r.statusReason ? `${r.status}: ${r.statusReason}` : r.status,
    stage: r.currentStage >= 0 ? `${r.currentStage + 1} of ${r.stages.length} (${r.stages.map((s) => `${s.weight}%`).join(' → ')})` : '—',
    split: split(r),
  };
  if (r.mode === 'targets') {
    const selector = r.targetSelector && Object.keys(r.targetSelector).length ? JSON.stringify(r.targetSelector) : 'all targets';
    return {
      ...head,
      targets: `target groups (${selector})`,
      ...progress,
      ...Object.fromEntries(
        r.variations.map((v) => [`targets_${v.name}`, v.targets?.length ? `${v.targets.length}: ${v.targets.join(', ')}` : '0']),
      ),
      deployment: r.job ? `${r.job.id} ${r.job.status}${r.job.error ? `: ${r.job.error}` : ''}` : null,
    };
  }
  return {
    ...head,
    router: r.routerTarget?.name ?? null,
    ...progress,
    router_reports: r.traffic
      ? r.traffic.distribution
        ? `${r.traffic.status}: ${Object.entries(r.traffic.distribution)
            .map(([k, v]) => `${k} ${v}%`)
            .join(', ')}`
        : `${r.traffic.status}${r.traffic.error ? `: ${r.traffic.error}` : ''}`
      : null,
  };
}

function printRollout(r: Rollout): void {
  printRecord(rolloutRecord(r));
  if (r.steps?.length) {
    process.stdout.write('\n');
    printTable(r.steps, [
      ['AT', (s) => s.at],
      ['ACTION', (s) => s.action],
      ['STAGE', (s) => `${s.stage + 1} (${s.weight}%)`],
      ['BY', (s) => s.actor],
      ['WHY', (s) => s.reason],
      ['EVIDENCE', (s) => s.evidenceId],
    ]);
    const analysed = r.steps.filter((s) => s.analysis);
    for (const s of analysed.slice(-3)) {
      process.stdout.write(`\nanalysis at ${s.at}: ${s.analysis!.verdict} (${s.reason})\n`);
      printTable(s.analysis!.metrics, [
        ['METRIC', (m) => m.name],
        ['VALUE', (m) => (m.value === null ? '—' : String(m.value))],
        ['THRESHOLD', (m) => m.threshold],
        ['VERDICT', (m) => m.verdict],
        ['WHY', (m) => m.reason],
        ['QUERY', (m) => m.query],
      ]);
    }
  }
}

/** A rollout by id, or the newest one with that name. */
async function resolve(c: ReturnType<typeof clientFor>, nameOrId: string): Promise<string> {
  if (/^[0-9a-f-]{36}$/i.test(nameOrId)) return nameOrId;
  const all = await c.get<Rollout[]>('/rollouts');
  const found = all.find((r) => r.name === nameOrId);
  if (!found) throw new CliError(`no rollout named "${nameOrId}" (gantry rollout list shows them)`, EXIT.notFound);
  return found.id;
}

export function registerRolloutCommands(program: Command): void {
  const rollout = program
    .command('rollout')
    .description(
      'Progressive delivery: A/B releases and metric-driven canaries through a traffic router or as target groups (docs/progressive-delivery.md)',
    );

  apiCommand(rollout, 'start', 'Start an A/B release or a canary from a spec file (JSON or YAML, the body of POST /rollouts)', [
    'gantry rollout start -f canary.yaml',
    'gantry rollout start -f ab.json --json',
  ])
    .requiredOption(
      '-f, --file <path>',
      'the rollout spec: name, kind, environment, routerTarget and router (or targets), variations, stages, analysis',
    )
    .action(async (opts: ApiOpts & { file: string }) => {
      const body = readObjectFile(opts.file, 'one rollout spec object (name, kind, environment, routerTarget, router, variations)');
      const r = await clientFor(opts).post<Rollout>('/rollouts', body);
      emit(opts, r, printRollout);
    });

  apiCommand(rollout, 'list', 'List rollouts, newest first', ['gantry rollout list', 'gantry rollout list --status running'])
    .option('--status <status>', 'only rollouts in this status (running, awaiting_approval, promoted, rolled_back, …)')
    .option('--env <environment>', 'only rollouts of this environment')
    .action(async (opts: ApiOpts & { status?: string; env?: string }) => {
      const q = new URLSearchParams();
      if (opts.status) q.set('status', opts.status);
      if (opts.env) q.set('environment', opts.env);
      const list = await clientFor(opts).get<Rollout[]>(`/rollouts${q.size ? `?${q}` : ''}`);
      emit(opts, list, () =>
        printTable(list, [
          ['NAME', (r) => r.name],
          ['KIND', (r) => r.kind],
          ['ENVIRONMENT', (r) => r.environment.name],
          ['STATUS', (r) => r.status],
          ['STAGE', (r) => (r.currentStage >= 0 ? `${r.currentStage + 1}/${r.stages.length}` : '—')],
          ['SPLIT', split],
          ['ID', (r) => r.id],
        ]),
      );
    });

  apiCommand(rollout, 'show <rollout>', 'A rollout: the split now, every stage change with who or what decided it, and the analyses', [
    'gantry rollout show checkout-canary',
    'gantry rollout show checkout-canary --watch',
  ])
    .option('--watch', 'print again whenever it changes, until it ends')
    .option('--interval <seconds>', 'seconds between checks with --watch', '2')
    .action(async (nameOrId: string, opts: ApiOpts & { watch?: boolean; interval: string }) => {
      const c = clientFor(opts);
      const id = await resolve(c, nameOrId);
      let last = '';
      for (;;) {
        const r = await c.get<Rollout>(`/rollouts/${ref(id)}`);
        const now = JSON.stringify([r.status, r.currentStage, r.steps?.length, r.traffic?.status, r.job?.status]);
        if (now !== last) {
          if (last && !opts.json) process.stdout.write('\n');
          emit(opts, r, printRollout);
          last = now;
        }
        if (!opts.watch || FINAL.has(r.status)) {
          if (r.status === 'failed' || r.status === 'rolled_back' || r.status === 'aborted') process.exitCode = EXIT.other;
          return;
        }
        await new Promise((res) => setTimeout(res, Math.max(0.2, Number(opts.interval) || 2) * 1000));
      }
    });

  const decisions = [
    ['advance', 'Move to the next stage now (after the last stage: promote the candidate)'],
    ['promote', 'Promote the candidate: all traffic to it, the stable variation retired from the route'],
    ['rollback', 'Roll back: all traffic to the stable variation, the candidate retired from the route'],
    ['abort', 'Abort the rollout: like a rollback, recorded as an abort'],
  ] as const;
  for (const [action, description] of decisions) {
    apiCommand(rollout, `${action} <rollout>`, description, [`gantry rollout ${action} checkout-canary --reason "…"`])
      .option('--reason <text>', 'why (recorded in the evidence)', '')
      .action(async (nameOrId: string, opts: ApiOpts & { reason: string }) => {
        const c = clientFor(opts);
        const r = await c.post<Rollout>(`/rollouts/${ref(await resolve(c, nameOrId))}/${action}`, { reason: opts.reason });
        emit(opts, r, printRollout);
      });
  }
}
