// `npm run bench`: runs every benchmark in bench/ one after another (each prints its own table),
// or only those named: npm run bench -- workflows promotions. With one benchmark named, other
// arguments (e.g. --runs 2000) are passed to it. It ends with one table of every goal measured
// (bench/lib/goals.ts): the figure, the reference it is held against, pass or fail.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Goal, goalTable } from './lib/goals.js';

const dir = fileURLToPath(new URL('.', import.meta.url));
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();
const args = process.argv.slice(2);
const wanted = args.filter((a) => all.includes(a));
const passOn = args.filter((a) => !all.includes(a));
const chosen = wanted.length ? all.filter((b) => wanted.includes(b)) : all;
if (passOn.length && chosen.length !== 1) {
  process.stderr.write(
    `options (${passOn.join(' ')}) go with one named benchmark, e.g. npm run bench -- workflows --runs 2000; benchmarks: ${all.join(', ')}\n`,
  );
  process.exit(2);
}
const goalsDir = mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-goals-'));
const goalsFile = path.join(goalsDir, 'goals.jsonl');
let failed = 0;
for (const name of chosen) {
  process.stdout.write(`\n## ${name}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${name}.ts`, ...passOn], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_GOALS_FILE: goalsFile },
  });
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`benchmark ${name} failed (exit ${r.status})\n`);
  }
}
let goals: Goal[] = [];
try {
  goals = readFileSync(goalsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Goal);
} catch {
  // no benchmark reported a goal
}
rmSync(goalsDir, { recursive: true, force: true });
process.stdout.write(`\n## Goals (${os.cpus().length} cores, ${new Date().toISOString()})\n\n`);
process.stdout.write(goals.length ? `${goalTable(goals)}\n` : 'No goal was measured.\n');
const missed = goals.filter((g) => !g.pass).length;
process.stdout.write(`\n${goals.length - missed} of ${goals.length} goals met${failed ? `; ${failed} benchmark(s) failed to run` : ''}\n`);
process.exit(failed ? 1 : 0);
