// docker_host executor: Docker Engine API (also podman's compatible API). Pull by digest, replace each
// component's container (gantry.* labels), verify health, write the version sticker; blue_green starts the
// new colour beside the old, switches the router file, then stops the old colour.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import {
  type AgentTask,
  bundleDigest,
  canonicalJson,
  containerName,
  expandTemplate,
  type Observation,
  sha256Of,
  stickerFor,
} from '../../deployments/protocol.js';
import { waitHealthy } from '../health.js';
import { connectEngine, inspectContainer, observeContainer, probeMeans, pull, removeContainer, replaceContainer } from './engine.js';
import { removeDockerTarget } from './remove.js';
import { type ComponentPlan, planComponents } from './spec.js';
import type { ExecResult, Executor, ObserveTarget, TaskLog } from './types.js';

const run = promisify(execFile);

/** Where stickers of docker_host targets live: the target has no deploy directory of its own. */
export function stickerPath(stateDir: string, targetName: string): string {
  return path.join(stateDir, 'targets', targetName, 'gantry.version.json');
}

export async function writeAtomic(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, content, { mode: 0o644 });
  await rename(tmp, file);
}

export async function readSticker(file: string): Promise<Observation['sticker']> {
  try {
    const content = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    return { content, contentHash: sha256Of(canonicalJson(content)) };
  } catch {
    return null;
  }
}

/** Verifies every component; the first unhealthy one fails the task with its reason. */
export async function verifyAll(docker: Docker, dockerHost: string, plans: ComponentPlan[], log: TaskLog, signal: AbortSignal) {
  const health: Record<string, unknown> = {};
  for (const p of plans) {
    const out = await waitHealthy(p.health, p.port, probeMeans(docker, dockerHost, p.containerName), log, p.containerName, signal);
    health[p.component.name] = out;
    if (!out.ok) return { ok: false as const, health, error: `${p.component.name} on ${p.containerName} is unhealthy: ${out.detail}` };
  }
  return { ok: true as const, health };
}

/**
 * Observe before acting: every planned container runs its component's digest (the engine's, else the
 * gantry.digest label) and answers one health probe. Returns what was seen, or null (with the reason
 * logged) when the task has to run.
 */
export async function runsAsPlanned(docker: Docker, dockerHost: string, plans: ComponentPlan[], log: TaskLog, signal: AbortSignal) {
  const observed = await Promise.all(plans.map((p) => observeContainer(docker, p.component.name, p.component.image, [p.containerName])));
  for (const [i, o] of observed.entries()) {
    const want = plans[i]!.component.digest;
    const has = o.digest ?? o.labels['gantry.digest'] ?? null;
    if (!o.running || has !== want) {
      log(`${o.containerName}: ${o.running ? `runs ${has ?? o.image}` : 'not running'}, not ${want}`);
      return null;
    }
  }
  const verdict = await verifyAll(
    docker,
    dockerHost,
    plans.map((p) => ({ ...p, health: { ...p.health, retries: 0 } })),
    log,
    signal,
  );
  return verdict.ok ? { observed, health: verdict.health } : null;
}

/** The sticker a target already has for these components (an earlier attempt wrote it), else a new one. */
export function stickerToKeep(task: AgentTask, existing: Observation['sticker']): ReturnType<typeof stickerFor> {
  return existing && existing.content.digest === bundleDigest(task.components) ? existing : stickerFor(task, new Date());
}

function routerFile(task: AgentTask, plans: ComponentPlan[]): string {
  const router = task.config.router!;
  if (router.type === 'nginx') {
    return plans
      .map(
        (p) => `upstream gantry_${task.target.name.replace(/[^a-z0-9]/g, '_')}_${p.component.name} {\n  server 127.0.0.1:${p.port};\n}\n`,
      )
      .join('');
  }
  const services = plans.map(
    (p) =>
      `    ${task.target.name}-${p.component.name}:\n      loadBalancer:\n        servers:\n          - url: "http://127.0.0.1:${p.port}"\n`,
  );
  return `http:\n  services:\n${services.join('')}`;
}

/**
 * The colour a blue_green task starts. A retried task takes the colour its job already started; otherwise
 * the colour that is not running. When both run (a task of another job was interrupted between start
 * and switch), the router file says which one serves, and the other one is replaced.
 */
async function newColor(docker: Docker, task: AgentTask, plansOf: (color: string) => ComponentPlan[]): Promise<'blue' | 'green'> {
  const first = task.components[0]!;
  const colors = ['blue', 'green'] as const;
  const found = await Promise.all(colors.map((c) => inspectContainer(docker, containerName(task.target.name, first.name, c))));
  const byJob = colors.find((_, i) => found[i]?.Config.Labels?.['gantry.job'] === task.jobId);
  if (byJob) return byJob;
  const [blueRuns, greenRuns] = found.map((c) => Boolean(c?.State.Running));
  if (!(blueRuns && greenRuns)) return blueRuns ? 'green' : 'blue';
  const router = task.config.router!;
  const current = await readFile(expandTemplate(router.path, { task, color: 'blue' }), 'utf8').catch(() => '');
  return current === routerFile(task, plansOf('blue')) ? 'green' : 'blue';
}

export class DockerExecutor implements Executor {
  constructor(private readonly stateDir: string) {}

  async info(): Promise<Record<string, string>> {
    return {};
  }

  async execute(task: AgentTask, log: TaskLog, signal: AbortSignal): Promise<ExecResult> {
    if (task.action === 'remove') return removeDockerTarget(task, stickerPath(this.stateDir, task.target.name), log);
    const dockerHost = String(task.target.connection.dockerHost);
    const docker = connectEngine(dockerHost);
    const sticker = stickerFor(task, new Date());
    const writtenAt = String(sticker.content.writtenAt);
    if (task.strategy === 'blue_green') return this.blueGreen(task, docker, dockerHost, sticker, log, signal);
    const plans = planComponents(task, sticker.contentHash, writtenAt);
    for (const p of plans) await pull(docker, p.ref, log);
    signal.throwIfAborted(); // the lease was lost while pulling: leave the target to the new holder
    for (const p of plans) await replaceContainer(docker, p, task.jobId, log);
    const verdict = await verifyAll(docker, dockerHost, plans, log, signal);
    const observed = await Promise.all(plans.map((p) => observeContainer(docker, p.component.name, p.component.image, [p.containerName])));
    const artifacts = [{ name: `container-spec.${task.target.name}.json`, mediaType: 'application/json', content: canonicalJson(plans) }];
    if (!verdict.ok) return { status: 'failed', error: verdict.error, artifacts, observed, health: verdict.health };
    await writeAtomic(stickerPath(this.stateDir, task.target.name), `${JSON.stringify(sticker.content, null, 2)}\n`);
    log(`sticker ${sticker.contentHash} written`);
    return { status: 'succeeded', sticker, artifacts, observed, health: verdict.health };
  }

  private async blueGreen(
    task: AgentTask,
    docker: Docker,
    dockerHost: string,
    sticker: ReturnType<typeof stickerFor>,
    log: TaskLog,
    signal: AbortSignal,
  ): Promise<ExecResult> {
    const router = task.config.router;
    if (!router) return { status: 'failed', error: 'blue_green needs strategyConfig.router', artifacts: [], observed: [] };
    const writtenAt = String(sticker.content.writtenAt);
    const color = await newColor(docker, task, (c) => planComponents(task, sticker.contentHash, writtenAt, c));
    const old = color === 'blue' ? 'green' : 'blue';
    log(`blue_green: starting the ${color} set beside ${old}`);
    const plans = planComponents(task, sticker.contentHash, writtenAt, color);
    const removeNew = async () => {
      for (const p of plans) await removeContainer(docker, p.containerName, log); // the old set keeps serving
    };
    for (const p of plans) await pull(docker, p.ref, log);
    for (const p of plans) await replaceContainer(docker, p, task.jobId, log);
    const verdict = await verifyAll(docker, dockerHost, plans, log, signal);
    const observed = await Promise.all(plans.map((p) => observeContainer(docker, p.component.name, p.component.image, [p.containerName])));
    const file = routerFile(task, plans);
    const artifacts = [{ name: `router.${task.target.name}.${router.type}`, mediaType: 'text/plain', content: file }];
    if (!verdict.ok) {
      await removeNew();
      return { status: 'failed', error: verdict.error, artifacts, observed, health: verdict.health };
    }
    const routerPath = expandTemplate(router.path, { task, color });
    const previous = await readFile(routerPath, 'utf8').catch(() => null);
    await writeAtomic(routerPath, file);
    log(`router ${routerPath} switched to ${color}`);
    if (router.reloadCommand?.length) {
      const [cmd, ...args] = router.reloadCommand;
      try {
        await run(cmd!, args);
      } catch (err) {
        // The proxy did not take the new file: put the previous one back and keep the old set serving.
        if (previous === null) await rm(routerPath, { force: true });
        else await writeAtomic(routerPath, previous);
        log(`router reload failed; ${routerPath} restored, ${old} keeps serving`);
        await removeNew();
        const detail = ((err as { stderr?: string }).stderr || (err as Error).message).trim();
        return { status: 'failed', error: `router reload (${router.reloadCommand.join(' ')}) failed: ${detail}`, artifacts, observed };
      }
      log(`router reloaded (${router.reloadCommand.join(' ')})`);
    }
    // The old set: the other colour, and an uncoloured container left by another strategy.
    for (const c of task.components) {
      for (const name of [containerName(task.target.name, c.name, old), containerName(task.target.name, c.name)]) {
        await removeContainer(docker, name, log);
      }
    }
    await writeAtomic(stickerPath(this.stateDir, task.target.name), `${JSON.stringify(sticker.content, null, 2)}\n`);
    log(`sticker ${sticker.contentHash} written`);
    return { status: 'succeeded', sticker, artifacts, observed, health: { ...verdict.health, color } };
  }

  async alreadyDone(task: AgentTask, log: TaskLog, signal: AbortSignal): Promise<ExecResult | null> {
    // blue_green: which colour serves is the router file's say; a retry takes its job's colour again (newColor).
    if (task.strategy === 'blue_green') return null;
    const dockerHost = String(task.target.connection.dockerHost);
    const docker = connectEngine(dockerHost);
    const file = stickerPath(this.stateDir, task.target.name);
    const existing = await readSticker(file);
    const sticker = stickerToKeep(task, existing);
    const plans = planComponents(task, sticker.contentHash, String(sticker.content.writtenAt));
    const seen = await runsAsPlanned(docker, dockerHost, plans, log, signal);
    if (!seen) return null;
    if (sticker !== existing) await writeAtomic(file, `${JSON.stringify(sticker.content, null, 2)}\n`);
    const artifacts = [{ name: `container-spec.${task.target.name}.json`, mediaType: 'application/json', content: canonicalJson(plans) }];
    return { status: 'succeeded', sticker, artifacts, observed: seen.observed, health: seen.health };
  }

  async observe(t: ObserveTarget): Promise<Observation> {
    try {
      const docker = connectEngine(String(t.connection.dockerHost));
      const components = [];
      for (const c of t.components) {
        const names = ['', 'blue', 'green'].map((color) => containerName(t.name, c.name, color || undefined));
        components.push(await observeContainer(docker, c.name, c.image, names));
      }
      return { targetId: t.targetId, components, sticker: await readSticker(stickerPath(this.stateDir, t.name)) };
    } catch (err) {
      return { targetId: t.targetId, components: [], sticker: null, error: `cannot observe: ${(err as Error).message}` };
    }
  }
}
