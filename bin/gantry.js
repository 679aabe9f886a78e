#!/usr/bin/env -S node --max-semi-space-size=4
// Entry point: runs the compiled CLI from dist/ when built, otherwise the TypeScript sources through tsx.
// The young generation is capped at 4 MB per semi-space (V8's default grows to 16 MB): an idle server or
// agent keeps ~25 MB less resident, with no throughput change measured (docs/benchmarks.md, start-up).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../dist/main.js', import.meta.url));
if (existsSync(built) && !process.env.GANTRY_FROM_SOURCE) {
  await import(built);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}
