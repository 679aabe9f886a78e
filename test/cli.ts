// Runs the `gantry` CLI (bin/gantry.js, from source) as a child process for CLI tests, asynchronously: a
// synchronous spawn would block this process, which is often also the server the CLI talks to.
import { spawn } from 'node:child_process';
import path from 'node:path';

const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'gantry.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** HOME of the run; the CLI's config file (GANTRY_CONFIG) is `config` in it. */
  home: string;
  /** The config file's name in home (default c.json). */
  config?: string;
  /** Variables on top of this process's environment without its GANTRY_* ones; undefined leaves one out. */
  env?: Record<string, string | undefined>;
  /** Working directory (default home). */
  cwd?: string;
}

/** `gantry ARGS` to its end: exit code and everything it wrote. */
export function runCli(args: string[], o: CliOptions): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GANTRY_')) env[k] = v;
  Object.assign(env, { HOME: o.home, GANTRY_CONFIG: path.join(o.home, o.config ?? 'c.json'), GANTRY_FROM_SOURCE: '1' }, o.env);
  for (const [k, v] of Object.entries(o.env ?? {})) if (v === undefined) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, cwd: o.cwd ?? o.home });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
