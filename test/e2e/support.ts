// e2e support: spawn real `gantry` processes (bin/gantry.js), wait for them, stop them, and find
// processes by command line, so tests read like an operator's session.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const GANTRY_BIN = path.join(REPO_ROOT, 'bin', 'gantry.js');
export const START_TIMEOUT_MS = 60_000;

export { freePort } from '../support/ports.js';

/** The environment for a child: this process's, minus anything that would change which store it uses. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of [
    'DATABASE_URL',
    'GANTRY_BOOTSTRAP_TOKEN',
    'GANTRY_DATA_DIR',
    'GANTRY_PORT',
    'GANTRY_HOST',
    'GANTRY_TOKEN',
    'GANTRY_SERVER',
    'GANTRY_SECRET_KEY_FILE',
  ]) {
    delete env[k];
  }
  // The secret policy test servers run with: env: refs to TEST_SECRET_* and file: refs under the temp dir.
  const secrets = { GANTRY_SECRET_ENV_PREFIX: 'TEST_SECRET_', GANTRY_SECRET_DIRS: os.tmpdir() };
  // The fakes and services the servers under test talk to listen on loopback, which the outbound door
  // refuses by default; security tests that need the default pass GANTRY_OUTBOUND_ALLOW: '' in extra.
  const outbound = { GANTRY_OUTBOUND_ALLOW: '127.0.0.0/8' };
  return { ...env, GANTRY_HOST: '127.0.0.1', GANTRY_LOG_LEVEL: 'warn', ...secrets, ...outbound, ...extra };
}

export interface GantryProcess {
  child: ChildProcess;
  /** Everything the process wrote to stderr so far (failure messages, the bootstrap banner). */
  stderr(): string;
  stdout(): string;
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  exited: Promise<number | string>;
}

const running = new Set<GantryProcess>();

/** Starts `gantry ARGS`; `as` runs it as another user and group (non-root agent tests; this process is root). */
export function spawnGantry(args: string[], env: NodeJS.ProcessEnv, as?: { uid: number; gid: number }): GantryProcess {
  const child = spawn(process.execPath, [GANTRY_BIN, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], ...(as ?? {}) });
  let err = '';
  let out = '';
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString('utf8');
  });
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  const p: GantryProcess = { child, stderr: () => err, stdout: () => out, exited };
  running.add(p);
  void exited.then(() => running.delete(p));
  return p;
}

/** Runs a gantry command to completion and returns its exit code and output. */
export async function runGantry(args: string[], env: NodeJS.ProcessEnv, timeoutMs = START_TIMEOUT_MS) {
  const p = spawnGantry(args, env);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** Polls GET <base>/readyz until it answers 200; fails with the process's stderr if it exits or times out. */
export async function waitReady(p: GantryProcess, base: string, timeoutMs = START_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitedWith: number | string | undefined;
  void p.exited.then((c) => {
    exitedWith = c;
  });
  while (Date.now() < deadline) {
    if (exitedWith !== undefined) throw new Error(`gantry exited with ${exitedWith} before it was ready:\n${p.stderr()}`);
    try {
      const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`gantry was not ready at ${base} within ${timeoutMs} ms:\n${p.stderr()}`);
}

/** Sends SIGTERM and waits for the exit; SIGKILLs after the timeout so a test never hangs. */
export async function stopGantry(p: GantryProcess, timeoutMs = 30_000): Promise<number | string> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.exited;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return code;
}

/** For afterAll: kills every gantry process this file started that is still running. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((p) => stopGantry(p, 10_000)));
}

/** Pids of processes whose command line mentions `needle` (Linux /proc). */
export async function pidsWithArg(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (cmd.includes(needle)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/**
 * For afterAll after a failed test: stops an embedded PostgreSQL this test started whose gantry
 * process died without stopping it (the postmaster's pid is the first line of postmaster.pid).
 */
export async function stopOrphanPostgres(pgDir: string): Promise<void> {
  const pidFile = path.join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmd.split('\0').includes(pgDir)) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    // already gone
  }
}

/** fetch with a bearer token; returns status, content type and the parsed body. */
export async function api(base: string, method: string, url: string, token: string | undefined, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${url}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: parsed, text };
}
