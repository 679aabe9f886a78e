// The layering rules of .dependency-cruiser.cjs (run by `npm run lint`) catch what they are written for:
// each case plants one violation in a small tree laid out like this repository and expects the rule that
// names it to fail the check, and the same tree without the planted import to pass.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '..');
const depcruise = join(repo, 'node_modules', '.bin', 'depcruise');

/** A tree every rule accepts: each layer imports only what it may. */
const clean: Record<string, string> = {
  'src/core/ids.ts': 'export const UUID_RE = /^[0-9a-f-]{36}$/;\n',
  'src/protocol/wire.ts': 'export type Lease = { id: string };\n',
  'src/store/db.ts': "import { UUID_RE } from '../core/ids.js';\nexport const ok = UUID_RE;\n",
  'src/engine/index.ts': "import { ok } from '../store/db.js';\nexport const engine = ok;\n",
  'src/deployments/service.ts':
    "import { engine } from '../engine/index.js';\nimport type { Lease } from '../protocol/wire.js';\nexport const d = engine;\nexport type L = Lease;\n",
  'src/agent/agent.ts': "import type { Lease } from '../protocol/wire.js';\nexport type A = Lease;\n",
  'src/cli/main.ts':
    "import type { A } from '../agent/agent.js';\nimport { UUID_RE } from '../core/ids.js';\nexport type C = A;\nexport const c = UUID_RE;\n",
  'ui/src/api/client.ts': 'export const api = 1;\n',
  'ui/src/App.tsx': "import { api } from './api/client.js';\nexport const app = api;\n",
};

/** One planted import per rule: [rule, file, its new content]. */
const planted: [string, string, string][] = [
  ['no-circular', 'src/core/ids.ts', "import { ok } from '../store/db.js';\nexport const UUID_RE = ok;\n"],
  ['agent-speaks-http-only', 'src/agent/agent.ts', "import { d } from '../deployments/service.js';\nexport const a = d;\n"],
  ['cli-speaks-http-only', 'src/cli/main.ts', "import { ok } from '../store/db.js';\nexport const c = ok;\n"],
  ['protocol-is-neutral', 'src/protocol/wire.ts', "import { UUID_RE } from '../core/ids.js';\nexport const w = UUID_RE;\n"],
  ['core-imports-only-core', 'src/core/ids.ts', "import type { Lease } from '../protocol/wire.js';\nexport type I = Lease;\n"],
  ['store-imports-no-domain', 'src/store/db.ts', "import { d } from '../deployments/service.js';\nexport const ok = d;\n"],
  ['engine-imports-no-domain', 'src/engine/index.ts', "import { d } from '../deployments/service.js';\nexport const engine = d;\n"],
  ['domains-use-the-engine-surface', 'src/engine/steps.ts', 'export const step = 1;\n'],
  ['server-imports-no-cli', 'src/deployments/service.ts', "import { c } from '../cli/main.js';\nexport const d = c;\n"],
  ['ui-imports-only-its-client', 'ui/src/App.tsx', "import { ok } from '../../src/store/db.js';\nexport const app = ok;\n"],
  ['not-to-unresolvable', 'src/deployments/service.ts', "import { gone } from './missing.js';\nexport const d = gone;\n"],
];
// The engine-surface case needs an importer of the engine's inside as well as the inside itself.
const alsoPlanted: Record<string, [string, string]> = {
  'domains-use-the-engine-surface': ['src/deployments/service.ts', "import { step } from '../engine/steps.js';\nexport const d = step;\n"],
};

let root: string;

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(root, 'tree-'));
  await writeFile(join(dir, 'tsconfig.test.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', strict: true } }));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

/** Runs the repository's rules over a tree: the exit code and what the check printed. */
async function check(dir: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run(depcruise, ['--config', join(repo, '.dependency-cruiser.cjs'), '--output-type', 'err', 'src', 'ui/src'], {
      cwd: dir,
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gantry-layers-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('layering rules', () => {
  it('accept a tree that keeps every layer in its place', async () => {
    const r = await check(await tree(clean));
    expect(r.out).not.toMatch(/error/);
    expect(r.code).toBe(0);
  });

  it.each(planted)('fail on a planted violation of %s', async (rule, file, text) => {
    const extra = alsoPlanted[rule];
    const files = { ...clean, [file]: text, ...(extra ? { [extra[0]]: extra[1] } : {}) };
    const r = await check(await tree(files));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(`error ${rule}:`);
  });
});
