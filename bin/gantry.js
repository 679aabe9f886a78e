#!/usr/bin/env -S node --max-semi-space-size=4
// Entry point: runs the compiled CLI from dist/ when built (always so in an installed package), otherwise
// the TypeScript sources through tsx, which only a checkout with its dev dependencies has.
// The young generation is capped at 4 MB per semi-space (V8's default grows to 16 MB): an idle server or
// agent keeps ~25 MB less resident, with no throughput change measured (docs/benchmarks.md, start-up).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const sources = fileURLToPath(new URL('../src/main.ts', import.meta.url));
if (existsSync(built) && !(process.env.GANTRY_FROM_SOURCE && existsSync(sources))) {
  await import(built);
} else if (!existsSync(sources)) {
  process.stderr.write(`error: ${built} is missing; reinstall the gantry package, or run \`npm run build\` in a checkout\n`);
  process.exit(1);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}
