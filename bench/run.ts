// `npm run bench`: runs every benchmark in bench/ one after another (each prints its own table),
// or only those named: npm run bench -- workflows promotions. With one benchmark named, other
// arguments (e.g. --runs 2000) are passed to it.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
let failed = 0;
for (const name of chosen) {
  process.stdout.write(`\n## ${name}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${name}.ts`, ...passOn], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`benchmark ${name} failed (exit ${r.status})\n`);
  }
}
process.exit(failed ? 1 : 0);
