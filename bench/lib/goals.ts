// The goals a benchmark checks, reported in one shape so `npm run bench` can end with one table: each goal,
// the figure measured, the reference it is compared with (a ratio's reference is measured in the same run),
// and pass or fail. A benchmark calls goal() once per goal it measures; run.ts collects them through the
// file named by BENCH_GOALS_FILE (one JSON line per goal) and prints the table after the last benchmark.
import { appendFileSync } from 'node:fs';

export interface Goal {
  /** The benchmark that measured it (its file name without .ts). */
  bench: string;
  /** What is promised, e.g. "promotion decision p99 (50 concurrent × 4, 8 gates)". */
  goal: string;
  /** The figure measured, with its unit, e.g. "18 ms" or "1.07×". */
  figure: string;
  /** What it is compared with, e.g. "≤ 25 ms" or "≥ 1.0× graphile-worker (1021 jobs/s this run)". */
  reference: string;
  pass: boolean;
}

export function goal(g: Goal): void {
  const file = process.env.BENCH_GOALS_FILE;
  if (file) appendFileSync(file, `${JSON.stringify(g)}\n`);
  process.stdout.write(`goal: ${g.goal}: ${g.figure} (${g.reference}) ${g.pass ? 'pass' : 'FAIL'}\n`);
}

/** The table run.ts prints: a Markdown table, so it can be pasted into docs/benchmarks.md as it is. */
export function goalTable(goals: Goal[]): string {
  const rows = goals.map((g) => `| ${g.bench} | ${g.goal} | ${g.figure} | ${g.reference} | ${g.pass ? 'pass' : '**fail**'} |`);
  return ['| benchmark | goal | measured | reference | result |', '|---|---|---|---|---|', ...rows].join('\n');
}
