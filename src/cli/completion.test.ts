// `gantry completion bash|zsh`: the scripts, generated from the whole command tree, complete in a real
// bash and a real zsh (compadd stubbed: it is zsh's completion widget, only callable from a completion).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/gantry.js');
const ZSH = '/usr/bin/zsh';

function zshMissing(): boolean {
  if (existsSync(ZSH)) return false;
  if (process.env.CI === 'true') throw new Error('CI=true: the zsh completion test needs zsh (apt-get install -y zsh)');
  process.stderr.write('SKIPPED: the zsh completion test needs zsh (apt-get install -y zsh)\n');
  return true;
}

let dir: string;
const scripts: Record<string, string> = {};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-completion-'));
  for (const shell of ['bash', 'zsh']) {
    const { stdout } = await run(process.execPath, [BIN, 'completion', shell], { env: { ...process.env, GANTRY_FROM_SOURCE: '1' } });
    scripts[shell] = path.join(dir, `gantry.${shell}`);
    await writeFile(scripts[shell]!, stdout);
  }
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What bash offers for the command line typed so far (the last word is the one being completed). */
async function bash(...typed: string[]): Promise<string[]> {
  const words = typed.map((w) => `'${w}'`).join(' ');
  const { stdout } = await run('bash', [
    '-c',
    `source '${scripts.bash}'; COMP_WORDS=(${words}); COMP_CWORD=${typed.length - 1}; _gantry; printf '%s\\n' "\${COMPREPLY[@]}"`,
  ]);
  return stdout.split('\n').filter(Boolean);
}

describe('shell completion', () => {
  it('bash: commands at each level, options of the command typed, across every command group', async () => {
    expect(await bash('gantry', '')).toEqual(expect.arrayContaining(['env', 'promote', 'server', 'agent', 'doctor', 'completion', 'help']));
    expect(await bash('gantry', 'se')).toEqual(['secret', 'server']);
    expect(await bash('gantry', 'env', 'cr')).toEqual(['create']);
    expect(await bash('gantry', 'agent', 'token', '')).toEqual(['create']);
    expect(await bash('gantry', 'agent', 'install-service', '--s')).toEqual(['--server', '--state-dir']);
    // option values in between do not confuse it
    expect(await bash('gantry', 'promote', '1.4.0', '--to', 'prod', '--dr')).toEqual(['--dry-run']);
    expect(await bash('gantry', 'server', '--log-')).toEqual(['--log-format', '--log-level']);
    // nothing to offer after a leaf command: bash falls back to file names (complete -o default)
    expect(await bash('gantry', 'evidence', 'verify', 'x')).toEqual([]);
  });

  it.skipIf(zshMissing())('zsh: the same through compadd, and files where no command is left', async () => {
    const zsh = async (...typed: string[]) => {
      const words = typed.map((w) => `'${w}'`).join(' ');
      const { stdout } = await run(ZSH, [
        '-f',
        '-c',
        `compdef() { :; }; compadd() { shift; print -l -- "$@"; }; _files() { print FILES; }
         source '${scripts.zsh}'; words=(${words}); CURRENT=${typed.length}; _gantry`,
      ]);
      return stdout.split('\n').filter(Boolean);
    };
    expect(await zsh('gantry', '')).toEqual(expect.arrayContaining(['env', 'promote', 'server', 'doctor']));
    expect(await zsh('gantry', 'env', '')).toEqual(expect.arrayContaining(['create', 'list', 'get', 'update', 'delete']));
    expect(await zsh('gantry', 'server', 'install-service', '--')).toEqual(expect.arrayContaining(['--user', '--data-dir', '--install']));
    expect(await zsh('gantry', 'evidence', 'verify', '')).toEqual(['FILES']);
  });

  it('refuses other shells with exit 2', async () => {
    const r = await run(process.execPath, [BIN, 'completion', 'fish'], { env: { ...process.env, GANTRY_FROM_SOURCE: '1' } }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((r as { code: number }).code).toBe(2);
    expect((r as { stderr: string }).stderr).toMatch(/bash and zsh, not "fish"/);
  });
});
