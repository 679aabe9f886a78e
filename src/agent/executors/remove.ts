// Removal tasks (action "remove"): the rollback of a target's first-ever deployment takes away what Gantry
// created there — each component's containers (uncoloured, blue and green), the compose project and its
// lock file, the version sticker — and observes that none is left. Router files are left in place.
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { AgentTask, ObservedComponent } from '../../protocol/deployment.js';
import { containerName } from '../../protocol/deployment-values.js';
import { COLORS, colorLockFile, LOCK_FILE, projectName, STICKER_FILE } from './compose-project.js';
import { connectEngine, observeContainer, removeContainer } from './engine.js';
import { type SshSession, sq } from './ssh-session.js';
import { type ExecResult, TaskFailure, type TaskLog } from './types.js';

/** Every container name Gantry may have given a component on a target (any strategy). */
export function removalNames(task: AgentTask, component: string): string[] {
  return [undefined, 'blue', 'green'].map((color) => containerName(task.target.name, component, color));
}

/** After removing: one observation per component and name (containerId null when it is gone). */
async function observeGone(docker: Docker, task: AgentTask): Promise<ObservedComponent[]> {
  const seen: ObservedComponent[] = [];
  for (const c of task.components) {
    for (const name of removalNames(task, c.name)) seen.push(await observeContainer(docker, c.name, c.image, [name]));
  }
  return seen;
}

function removed(task: AgentTask, observed: ObservedComponent[]): ExecResult {
  const left = observed.filter((o) => o.containerId !== null);
  const summary = `removed from ${task.target.name}: ${task.components.map((c) => c.name).join(', ')} (no previous release to return to)`;
  if (left.length) {
    return {
      status: 'failed',
      error: `still present after removal: ${left.map((o) => o.containerName).join(', ')}`,
      artifacts: [],
      observed,
    };
  }
  return {
    status: 'succeeded',
    artifacts: [{ name: `removal.${task.target.name}.txt`, mediaType: 'text/plain', content: `${summary}\n` }],
    observed,
  };
}

/** docker_host: removes the component containers and the sticker file in the agent's state dir. */
export async function removeDockerTarget(task: AgentTask, stickerFile: string, log: TaskLog): Promise<ExecResult> {
  const docker = connectEngine(String(task.target.connection.dockerHost));
  for (const c of task.components) for (const name of removalNames(task, c.name)) await removeContainer(docker, name, log);
  await rm(stickerFile, { force: true });
  log(`sticker ${stickerFile} removed`);
  return removed(task, await observeGone(docker, task));
}

/**
 * compose_host: `<compose> -p PROJECT -f LOCKFILE down --remove-orphans` for the in-place project and each colour
 * project whose lock file is there, then any component container left by name; the lock file and the sticker go too.
 */
export async function removeComposeTarget(task: AgentTask, log: TaskLog, signal: AbortSignal): Promise<ExecResult> {
  const conn = task.target.connection as { dockerHost: string; projectDir: string; composeCommand?: string };
  const base = projectName({ name: task.target.name, connection: conn });
  // The in-place project and the colour projects of zero-downtime updates, each with its own lock file.
  const projects = [
    { project: base, lockFile: path.join(conn.projectDir, LOCK_FILE) },
    ...COLORS.map((color) => ({ project: `${base}-${color}`, lockFile: path.join(conn.projectDir, colorLockFile(color)) })),
  ];
  const stickerFile = path.join(conn.projectDir, STICKER_FILE);
  const docker = connectEngine(conn.dockerHost);
  for (const p of projects) {
    if ((await readFile(p.lockFile, 'utf8').catch(() => null)) === null) continue;
    const [cmd, ...pre] = (conn.composeCommand ?? 'docker compose').split(' ');
    const args = [...pre, '-p', p.project, '-f', p.lockFile, 'down', '--remove-orphans'];
    log(`$ ${cmd} ${args.join(' ')}`);
    const child = spawn(cmd!, args, { env: { ...process.env, DOCKER_HOST: conn.dockerHost }, cwd: path.dirname(p.lockFile), signal });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => {
      child.once('close', (c) => resolve(c));
      child.once('error', () => resolve(-1));
    });
    for (const line of output.split(/\r?\n/).filter(Boolean).slice(-50)) log(line);
    if (code !== 0) throw new TaskFailure(`${cmd} down failed (exit ${code}): ${output.trim().slice(-2000)}`);
  }
  for (const c of task.components) for (const name of removalNames(task, c.name)) await removeContainer(docker, name, log);
  for (const p of projects) await rm(p.lockFile, { force: true });
  await rm(stickerFile, { force: true });
  log(`removed the lock files and ${stickerFile}`);
  return removed(task, await observeGone(docker, task));
}

/** ssh_host: `docker rm -f` of the component containers and the sticker under ~/.gantry, over the session. */
export async function removeOverSsh(s: SshSession, docker: string, task: AgentTask, log: TaskLog): Promise<ExecResult> {
  const observed: ObservedComponent[] = [];
  for (const c of task.components) {
    for (const name of removalNames(task, c.name)) {
      const r = await s.run(`${docker} rm -f ${sq(name)}`);
      if (r.code === 0) log(`${name}: removed`);
      const still = await s.run(`${docker} inspect --type container --format '{{.Id}}' ${sq(name)}`);
      const id = still.code === 0 ? still.stdout.trim() : null;
      observed.push({ component: c.name, containerName: name, containerId: id, image: null, digest: null, running: false, labels: {} });
    }
  }
  await s.must(`rm -f "$HOME"/.gantry/targets/${sq(task.target.name)}/gantry.version.json`, log);
  return removed(task, observed);
}
