// `gantry history target NAME [--at TIME]` and `gantry history digest DIGEST`: what ran where and when,
// who decided it, and the evidence that proves it (verified by the server against the chain).
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor, emit } from './api-command.js';
import { ref } from './client.js';
import { CliError, EXIT, printRecord, printTable } from './output.js';

interface Ran {
  from: string;
  to: string | null;
  action: string;
  components: { name: string; digest: string }[];
  release: { name: string };
  jobId: string;
  promotionId: string | null;
  rollbackOf: string | null;
}
interface Drift {
  from: string;
  to: string | null;
  items: { component: string | null; field: string; expected: string | null; actual: string | null }[];
}
interface At {
  target: { name: string };
  at: string;
  ran: Ran | null;
  why: string | null;
  drift: Drift | null;
  job: { id: string; createdBy: string | null; strategy: string; rollbackOf: string | null } | null;
  promotion: {
    id: string;
    requestedBy: string;
    reason: string;
    approvals: { username: string; action: string; at: string; counted: boolean }[];
    gates: { gate: string; status: string; reason: string }[];
    outcome: string | null;
  } | null;
  evidence: { id: string; type: string; sequence: number }[];
  verification: { ok: boolean; failures: string[] } | null;
}

const digests = (r: Ran) => r.components.map((c) => `${c.name}@${c.digest}`).join(' ') || '(nothing)';

function printAt(a: At): void {
  printRecord({
    target: a.target.name,
    at: a.at,
    ran: a.ran ? (a.ran.action === 'remove' ? '(removed by Gantry)' : digests(a.ran)) : `(${a.why})`,
    since: a.ran?.from ?? null,
    until: a.ran ? (a.ran.to ?? 'now') : null,
    release: a.ran?.release.name ?? null,
    job: a.job ? `${a.job.id}${a.job.rollbackOf ? ` (rollback of ${a.job.rollbackOf})` : ''}` : null,
    startedBy: a.job?.createdBy ?? null,
    promotion: a.promotion?.id ?? null,
    requestedBy: a.promotion?.requestedBy ?? null,
    approvedBy: a.promotion
      ? a.promotion.approvals
          .filter((x) => x.counted)
          .map((x) => x.username)
          .join(', ') || '—'
      : null,
    decision: a.promotion?.outcome ?? null,
    drift: a.drift
      ? `${a.drift.items.map((i) => `${i.component ?? 'target'} ${i.field} ${i.actual ?? '—'} (recorded ${i.expected ?? '—'})`).join('; ')} (from ${a.drift.from}${a.drift.to ? ` to ${a.drift.to}` : ''})`
      : null,
    evidence: a.evidence.map((e) => `${e.type} #${e.sequence} ${e.id}`).join(', ') || null,
    verified: a.verification
      ? a.verification.ok
        ? 'yes: hashes, signatures and chain links check out'
        : `NO: ${a.verification.failures.join('; ')}`
      : null,
  });
  if (a.promotion?.gates.length) {
    process.stdout.write('\n');
    printTable(a.promotion.gates, [
      ['GATE', (g) => g.gate],
      ['RESULT', (g) => g.status],
      ['REASON', (g) => g.reason],
    ]);
  }
}

export function registerHistoryCommands(program: Command): void {
  const history = program.command('history').description('What ran where and when, who decided it, and the evidence that proves it');

  apiCommand(
    history,
    'target <target>',
    'A target’s timeline, or with --at what ran on it at that instant (with who decided it and the verified evidence)',
    [
      'gantry history target web-1',
      'gantry history target web-1 --at 2026-12-01T10:00:00Z',
      'gantry history target web-1 --at 2026-12-01T10:00:00Z --json',
    ],
  )
    .option('--at <time>', 'an ISO 8601 instant, e.g. 2026-12-01T10:00:00Z')
    .action(async (target: string, opts: ApiOpts & { at?: string }) => {
      const c = clientFor(opts);
      if (opts.at) {
        if (Number.isNaN(Date.parse(opts.at)))
          throw new CliError(`--at "${opts.at}" is not an ISO 8601 time such as 2026-12-01T10:00:00Z`, EXIT.invalid);
        const a = await c.get<At>(`/targets/${ref(target)}/at?time=${encodeURIComponent(new Date(opts.at).toISOString())}`);
        emit(opts, a, printAt);
        if (a.verification && !a.verification.ok) process.exitCode = EXIT.other;
        return;
      }
      const t = await c.get<{ intervals: Ran[]; drift: Drift[] }>(`/targets/${ref(target)}/timeline`);
      emit(opts, t, () => {
        printTable(t.intervals, [
          ['FROM', (r) => r.from],
          ['TO', (r) => r.to ?? 'now'],
          ['RELEASE', (r) => r.release.name],
          ['RAN', (r) => (r.action === 'remove' ? '(removed)' : digests(r))],
          ['JOB', (r) => `${r.jobId}${r.rollbackOf ? ' (rollback)' : ''}`],
          ['PROMOTION', (r) => r.promotionId],
        ]);
        if (t.drift.length) {
          process.stdout.write('\ndrift:\n');
          printTable(t.drift, [
            ['FROM', (d) => d.from],
            ['TO', (d) => d.to ?? 'now'],
            [
              'WHAT',
              (d) =>
                d.items.map((i) => `${i.component ?? 'target'} ${i.field}: ${i.actual ?? '—'} (recorded ${i.expected ?? '—'})`).join('; '),
            ],
          ]);
        }
      });
    });

  apiCommand(history, 'digest <digest>', 'Everywhere an image digest ran, per target and component, from when to when', [
    'gantry history digest sha256:4f1c…',
  ]).action(async (digest: string, opts: ApiOpts) => {
    const r = await clientFor(opts).get<{
      intervals: {
        target: { name: string; environmentName: string };
        component: string;
        from: string;
        to: string | null;
        releases: string[];
      }[];
    }>(`/digests/${encodeURIComponent(digest)}/history`);
    emit(opts, r, () =>
      printTable(r.intervals, [
        ['TARGET', (i) => `${i.target.name} (${i.target.environmentName})`],
        ['COMPONENT', (i) => i.component],
        ['FROM', (i) => i.from],
        ['TO', (i) => i.to ?? 'now'],
        ['RELEASES', (i) => i.releases.join(', ')],
      ]),
    );
  });
}
