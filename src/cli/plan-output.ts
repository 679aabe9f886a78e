// Printing a deployment plan: one row per target and component (what happens, from which digest to
// which), the skipped targets with why, and the plan's hash (what an approval is for).
import { printTable } from './output.js';

export interface PlanView {
  strategy: string;
  batchCount: number;
  hash: string;
  summary: Record<string, number>;
  targets: {
    name: string;
    action: string;
    batch: number | null;
    mode: string | null;
    drift: boolean;
    why: string;
    components: { name: string; action: string; fromDigest: string | null; toDigest: string | null; why: string }[];
  }[];
}

const short = (d: string | null) => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '-');

type PlanTarget = PlanView['targets'][number];

export function printPlan(plan: PlanView): void {
  // One row per component; the target's columns only on its first row.
  type Row = { t: PlanTarget | null; c: PlanTarget['components'][number] | null };
  const rows = plan.targets.flatMap((t): Row[] =>
    t.action === 'skip' || t.components.length === 0 ? [{ t, c: null }] : t.components.map((c, i) => ({ t: i === 0 ? t : null, c })),
  );
  printTable(rows, [
    ['TARGET', (r) => (r.t ? `${r.t.name}${r.t.drift ? ' (drift)' : ''}` : '')],
    ['BATCH', (r) => (r.t && r.t.batch !== null ? String(r.t.batch + 1) : '')],
    ['TARGET ACTION', (r) => (r.t ? r.t.action : '')],
    ['COMPONENT', (r) => r.c?.name ?? ''],
    ['ACTION', (r) => r.c?.action ?? ''],
    ['DIGEST', (r) => (r.c ? `${short(r.c.fromDigest)} → ${short(r.c.toDigest)}` : '')],
    ['WHY', (r) => r.c?.why ?? r.t?.why ?? ''],
  ]);
  const s = plan.summary;
  process.stdout.write(
    `\n${plan.strategy}, ${plan.batchCount} batch(es): ${s.deploy} target(s) change, ${s.unchanged} unchanged, ${s.skip} skipped; ` +
      `${s.create} container(s) created, ${s.recreate} recreated, ${s.removeComponents} removed\nplan ${plan.hash}\n`,
  );
}
