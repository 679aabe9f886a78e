// `npm run bench`: runs every benchmark in bench/ one after another (each prints its own table),
// or only those named: npm run bench -- workflows promotions
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();
const chosen = wanted.length ? all.filter((b) => wanted.includes(b)) : all;
let failed = 0;
for (const name of chosen) {
  process.stdout.write(`\n## ${name}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${name}.ts`], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`benchmark ${name} failed (exit ${r.status})\n`);
  }
}
process.exit(failed ? 1 : 0);
