// `gantry promote`, `gantry approve`, `gantry reject` and `gantry promotion …`: moving releases through
// environments, with every gate's result and reason.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, emit, parseIntOption } from './api-command.js';
import { type ApiClient, ref } from './client.js';
import { CliError, EXIT, printRecord, printTable } from './output.js';
import { type PlanView, printPlan } from './plan-output.js';

interface Gate {
  gate: string;
  status: 'pass' | 'fail' | 'pending';
  reason: string;
  retryAt?: string;
}

interface Promotion {
  id: string;
  releaseName: string;
  sourceEnvironmentName: string | null;
  targetEnvironmentName: string;
  status: string;
  reason: string;
  blockedReason: string | null;
  nextEvaluationAt: string | null;
  decisionRecord: { gates?: Gate[]; outcome?: string; evidence?: { packetId: string } };
  workflowRunId: string | null;
  deploymentJobIds?: string[];
  requestedBy: { username: string };
  requestedAt: string;
  completedAt: string | null;
  approvals?: { approver: { username: string }; action: string; comment: string; approvedAt: string; forCurrentPlan?: boolean }[];
  planHash?: string | null;
  planChanges?: { at: string; changes: string[] }[];
}

interface Why {
  verdict: string;
  summary: string;
  gates: { gate: string; status: string; reason: string; unblock: string | null; opensAtLocal: string | null }[];
  approvals: {
    required: number;
    counted: string[];
    needed: number;
    eligible: { username: string; note: string | null }[];
    excluded: { username: string; why: string }[];
  };
  earliestProceedAt: string | null;
  earliestProceedAtLocal: string | null;
}

function printWhy(w: Why): void {
  process.stdout.write(`${w.summary}\n\n`);
  printTable(
    w.gates.filter((g) => g.status !== 'pass'),
    [
      ['GATE', (g) => g.gate],
      ['RESULT', (g) => MARK[g.status] ?? g.status],
      ['OPENS', (g) => g.opensAtLocal],
      ['TO PASS', (g) => g.unblock],
    ],
  );
  const a = w.approvals;
  process.stdout.write(
    `\napprovals: ${a.counted.length} of ${a.required} (${a.counted.join(', ') || 'none'}); ${a.needed} more needed\n` +
      `may approve: ${a.eligible.map((e) => (e.note ? `${e.username} (${e.note})` : e.username)).join(', ') || 'nobody'}\n` +
      (a.excluded.length ? `may not: ${a.excluded.map((e) => `${e.username} (${e.why})`).join(', ')}\n` : '') +
      `earliest it could proceed: ${w.earliestProceedAtLocal ?? 'not while a gate fails or waits without a time'}\n`,
  );
}

const FINAL = new Set(['deployed', 'rejected', 'cancelled', 'failed', 'rolled_back']);
const MARK: Record<string, string> = { pass: 'pass', fail: 'FAIL', pending: 'wait' };

function printGates(gates: Gate[]): void {
  printTable(gates, [
    ['GATE', (g) => g.gate],
    ['RESULT', (g) => MARK[g.status]],
    ['REASON', (g) => g.reason],
  ]);
}

function printPromotion(p: Promotion): void {
  printRecord({
    id: p.id,
    release: p.releaseName,
    from: p.sourceEnvironmentName ?? '(first environment)',
    to: p.targetEnvironmentName,
    status: p.status,
    blocked: p.blockedReason,
    nextEvaluation: p.nextEvaluationAt,
    reason: p.reason,
    requestedBy: p.requestedBy.username,
    requestedAt: p.requestedAt,
    evidence: p.decisionRecord.evidence?.packetId ?? null,
    deploymentJobs: p.deploymentJobIds?.length ? p.deploymentJobIds.join(', ') : null,
  });
  if (p.decisionRecord.gates?.length) {
    process.stdout.write('\n');
    printGates(p.decisionRecord.gates);
  }
  if (p.approvals?.length) {
    process.stdout.write('\n');
    printTable(p.approvals, [
      ['APPROVER', (a) => a.approver.username],
      ['ACTION', (a) => a.action],
      ['COMMENT', (a) => a.comment],
      ['FOR PLAN', (a) => (a.forCurrentPlan === false ? 'an earlier plan (does not count)' : 'this plan')],
      ['AT', (a) => a.approvedAt],
    ]);
  }
}

async function follow(client: ApiClient, id: string, quiet: boolean): Promise<Promotion> {
  let last = '';
  for (;;) {
    const p = await client.get<Promotion>(`/promotions/${id}`);
    const line = `${p.status}${p.blockedReason ? ` — ${p.blockedReason}` : ''}`;
    if (!quiet && line !== last) {
      process.stderr.write(`  ${line}\n`);
      if (p.status === 'awaiting_approval') process.stderr.write(`  (approve with: gantry approve ${p.id})\n`);
      last = line;
    }
    if (FINAL.has(p.status)) return p;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export function registerPromoteCommands(program: Command): void {
  apiCommand(program, 'promote <release>', 'Promote a release to an environment; --dry-run shows the gates without promoting', [
    'gantry promote 1.4.0 --to staging --reason "weekly release"',
    'gantry promote 1.4.0 --to prod --dry-run',
    'gantry promote 1.4.0 --to prod --wait',
  ])
    .requiredOption('--to <env>', 'target environment (name or id)')
    .option('--reason <text>', 'why (recorded in the decision record and evidence)', '')
    .option('--dry-run', 'evaluate the gates now and print them; nothing is written')
    .option('--wait', 'follow the promotion until it ends; exit 1 unless it is deployed')
    .action(async (release: string, opts: ApiOpts & { to: string; reason: string; dryRun?: boolean; wait?: boolean }) => {
      const client = clientFor(opts);
      if (opts.dryRun) {
        const preview = await client.post<{
          gates: Gate[];
          wouldPass: boolean;
          sourceEnvironment: { name: string } | null;
          plan: PlanView | null;
          why: Why;
        }>('/promotions/preview', {
          releaseId: release,
          targetEnvironmentId: opts.to,
        });
        emit(opts, preview, () => {
          printGates(preview.gates);
          process.stdout.write(`\n${preview.why.summary}\n\n`);
          if (preview.plan) printPlan(preview.plan);
          else process.stdout.write('no deployment plan: the environment has no targets\n');
          process.stdout.write(
            `\n${preview.wouldPass ? 'would pass' : 'would not pass now'} (from ${preview.sourceEnvironment?.name ?? 'nowhere: first environment'} to ${opts.to})\n`,
          );
        });
        return;
      }
      const p = await client.post<Promotion>('/promotions', { releaseId: release, targetEnvironmentId: opts.to, reason: opts.reason });
      if (!opts.wait) {
        emit(opts, p, () => process.stdout.write(`promotion ${p.id}: ${p.releaseName} → ${p.targetEnvironmentName} (${p.status})\n`));
        return;
      }
      if (!opts.json) process.stderr.write(`promotion ${p.id}: ${p.releaseName} → ${p.targetEnvironmentName}\n`);
      const done = await follow(client, p.id, Boolean(opts.json));
      emit(opts, done, printPromotion);
      if (done.status !== 'deployed')
        throw new CliError(`promotion ${done.id} ended ${done.status}${done.blockedReason ? `: ${done.blockedReason}` : ''}`, EXIT.other);
    });

  apiCommand(program, 'approve <promotion>', 'Approve a promotion’s deployment plan (one person counts once per plan)', [
    'gantry promotion plan 0193…   # review what it will do, and its plan hash',
    'gantry approve 0193… --plan sha256:4f1c… --comment "looks good"',
  ])
    .option('--comment <text>', 'comment recorded with the approval', '')
    .option('--plan <hash>', 'the plan hash you reviewed; refused (exit 1, nothing recorded) if the plan changed since')
    .action(async (id: string, opts: ApiOpts & { comment: string; plan?: string }) => {
      const p = await clientFor(opts).post<Promotion>(`/promotions/${ref(id)}/approve`, {
        comment: opts.comment,
        ...(opts.plan ? { planHash: opts.plan } : {}),
      });
      emit(opts, p, () => process.stdout.write(`approved plan ${p.planHash ?? '(none)'}; promotion ${p.id} is ${p.status}\n`));
    });

  apiCommand(program, 'reject <promotion>', 'Reject a promotion with a comment; it ends', [
    'gantry reject 0193… --comment "breaks checkout"',
  ])
    .requiredOption('--comment <text>', 'why (required)')
    .action(async (id: string, opts: ApiOpts & { comment: string }) => {
      const p = await clientFor(opts).post<Promotion>(`/promotions/${ref(id)}/reject`, { comment: opts.comment });
      emit(opts, p, () => process.stdout.write(`rejected; promotion ${p.id} is ${p.status}\n`));
    });

  const promotion = program.command('promotion').description('Promotions: list, inspect gates, cancel, emergency override');
  apiCommand(promotion, 'list', 'List promotions, newest first', ['gantry promotion list --env prod --status awaiting_approval'])
    .option('--env <env>', 'target environment')
    .option('--release <release>', 'release')
    .option('--status <status>', 'pending|awaiting_approval|approved|deploying|deployed|rejected|cancelled|failed|rolled_back')
    .action(async (opts: ApiOpts & { env?: string; release?: string; status?: string }) => {
      const items = await clientFor(opts).listAll<Promotion>('/promotions', {
        environment: opts.env,
        release: opts.release,
        status: opts.status,
      });
      emit(opts, items, (rows) =>
        printTable(rows, [
          ['ID', (p) => p.id],
          ['RELEASE', (p) => p.releaseName],
          ['TO', (p) => p.targetEnvironmentName],
          ['STATUS', (p) => p.status],
          ['BLOCKED', (p) => p.blockedReason],
          ['JOBS', (p) => p.deploymentJobIds?.join(' ') || null],
          ['REQUESTED', (p) => `${p.requestedBy.username} ${p.requestedAt}`],
        ]),
      );
    });
  apiCommand(promotion, 'get <id>', 'Show a promotion: decision record, gates, approvals').action(async (id: string, opts: ApiOpts) => {
    emit(opts, await clientFor(opts).get<Promotion>(`/promotions/${ref(id)}`), printPromotion);
  });
  apiCommand(promotion, 'gates <id>', 'Every gate’s latest result and reason, and when a blocked promotion is evaluated again').action(
    async (id: string, opts: ApiOpts) => {
      const g = await clientFor(opts).get<{ status: string; gates: Gate[]; blockedReason: string | null; nextEvaluationAt: string | null }>(
        `/promotions/${ref(id)}/gates`,
      );
      emit(opts, g, () => {
        printGates(g.gates);
        process.stdout.write(`\nstatus ${g.status}${g.nextEvaluationAt ? `; evaluated again at ${g.nextEvaluationAt}` : ''}\n`);
      });
    },
  );
  apiCommand(
    promotion,
    'plan <id>',
    'What the promotion’s deployment will do per target and component, the plan hash approvals are for, and how it changed',
    ['gantry promotion plan 0193…', 'gantry promotion plan 0193… --json'],
  ).action(async (id: string, opts: ApiOpts) => {
    const r = await clientFor(opts).get<{ plan: PlanView | null; changes: { at: string; changes: string[] }[] }>(
      `/promotions/${ref(id)}/plan`,
    );
    emit(opts, r, () => {
      if (r.plan) printPlan(r.plan);
      else process.stdout.write('no deployment plan: the environment has no targets\n');
      for (const c of r.changes) process.stdout.write(`changed at ${c.at}: ${c.changes.join('; ')}\n`);
    });
  });

  apiCommand(
    promotion,
    'why <id>',
    'Why it waits or was refused and until when: what would make each gate pass, when a freeze ends (in its time zone), who may still approve, when it could proceed',
    ['gantry promotion why 0193…', 'gantry promotion why 0193… --json'],
  ).action(async (id: string, opts: ApiOpts) => {
    const w = await clientFor(opts).get<Why>(`/promotions/${ref(id)}/why`);
    emit(opts, w, printWhy);
  });

  apiCommand(promotion, 'cancel <id>', 'Cancel a promotion that has not started deploying').action(async (id: string, opts: ApiOpts) => {
    const p = await clientFor(opts).post<Promotion>(`/promotions/${ref(id)}/cancel`, {});
    emit(opts, p, () => process.stdout.write(`promotion ${p.id} is ${p.status}\n`));
  });
  apiCommand(
    promotion,
    'override <id>',
    'Emergency override of a gate (e.g. freeze_window), with a reason and an expiry; leaves evidence',
    ['gantry promotion override 0193… --gate freeze_window --reason "hotfix for incident 4711" --minutes 30'],
  )
    .requiredOption('--gate <gate>', 'the gate to override')
    .requiredOption('--reason <text>', 'why (at least 10 characters; recorded in a gate_override packet)')
    .option('--minutes <n>', 'how long the override lasts (default 60, at most 1440)', '60')
    .action(async (id: string, opts: ApiOpts & { gate: string; reason: string; minutes: string }) => {
      const o = await clientFor(opts).post<{ gate: string; expiresAt: string; evidenceId: string }>(`/promotions/${ref(id)}/overrides`, {
        gate: opts.gate,
        reason: opts.reason,
        expiresInMinutes: parseIntOption(opts.minutes, '--minutes'),
      });
      emit(opts, o, () => process.stdout.write(`gate ${o.gate} overridden until ${o.expiresAt} (evidence ${o.evidenceId})\n`));
    });
}
