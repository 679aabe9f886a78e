// docker_host executor: Docker Engine API (also podman's compatible API). Pull by digest, verify health,
// write the version sticker. With a router (any strategy) the new colour starts beside the old one, the
// router switches once it is healthy, the old colour drains and stops; without one, containers are
// replaced in place (stopped with a grace period first).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { AgentTask, Observation } from '../../protocol/deployment.js';
import { bundleDigest, canonicalJson, containerName, sha256Of, stickerFor } from '../../protocol/deployment-values.js';
import { waitHealthy } from '../health.js';
import { type Router, RouterError, type RouteServer, routerFor } from '../routers/index.js';
import {
  connectEngine,
  inspectContainer,
  observeContainer,
  probeMeans,
  pull,
  removeContainer,
  replaceContainer,
  stopAndRemove,
} from './engine.js';
import { writeAtomic } from './files.js';
import { removeDockerTarget } from './remove.js';
import { type ComponentPlan, planComponents } from './spec.js';
import type { ExecResult, Executor, ObserveTarget, TaskLog } from './types.js';

export { writeAtomic };

/** Where stickers of docker_host targets live: the target has no deploy directory of its own. */
export function stickerPath(stateDir: string, targetName: string): string {
  return path.join(stateDir, 'targets', targetName, 'gantry.version.json');
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
export async function runsAsPlanned(
  docker: Docker,
  dockerHost: string,
  plans: ComponentPlan[],
  log: TaskLog,
  signal: AbortSignal,
  retries = 0,
) {
  const observed = await Promise.all(plans.map((p) => observeContainer(docker, p.component.name, p.component.image, [p.containerName])));
  for (const [i, o] of observed.entries()) {
    const want = plans[i]!.component.digest;
    const has = o.digest ?? o.labels['gantry.digest'] ?? null;
    if (!o.running || has !== want) {
      log(`${o.containerName}: ${o.running ? `runs ${has ?? o.image}` : 'not running'}, not ${want}`);
      return null;
    }
    // The same image run with other settings (command, environment, port, health check) is not the plan either.
    const config = plans[i]!.labels['gantry.config-hash'];
    if (o.labels['gantry.config-hash'] !== undefined && o.labels['gantry.config-hash'] !== config) {
      log(`${o.containerName}: runs ${want} with other settings (${o.labels['gantry.config-hash']}), not ${config}`);
      return null;
    }
  }
  const verdict = await verifyAll(
    docker,
    dockerHost,
    plans.map((p) => ({ ...p, health: { ...p.health, retries: Math.min(retries, p.health.retries) } })),
    log,
    signal,
  );
  return verdict.ok ? { observed, health: verdict.health } : null;
}

/** The sticker a target already has for these components (an earlier attempt wrote it), else a new one. */
export function stickerToKeep(task: AgentTask, existing: Observation['sticker']): ReturnType<typeof stickerFor> {
  return existing && existing.content.digest === bundleDigest(task.components) ? existing : stickerFor(task, new Date());
}

const servers = (plans: ComponentPlan[]): RouteServer[] =>
  plans.map((p) => ({ component: p.component.name, host: '127.0.0.1', port: p.port ?? 0 }));

/** With a router: whether both colours have their own port for every component (they can run side by side). */
function colorsApart(plansOf: (color: string) => ComponentPlan[]): boolean {
  const [blue, green] = [plansOf('blue'), plansOf('green')];
  return blue.every((b, i) => b.port !== undefined && green[i]!.port !== undefined && b.port !== green[i]!.port);
}

/**
 * The colour a routed task starts. A retried task takes the colour its job already started; otherwise
 * the colour that is not running. When both run (a task of another job was interrupted between start
 * and switch), the router's files say which one serves, and the other one is replaced.
 */
async function newColor(docker: Docker, task: AgentTask, router: Router, plansOf: (color: string) => ComponentPlan[]): Promise<Color> {
  const first = task.components[0]!;
  const found = await Promise.all(COLORS.map((c) => inspectContainer(docker, containerName(task.target.name, first.name, c))));
  const byJob = COLORS.find((_, i) => found[i]?.Config.Labels?.['gantry.job'] === task.jobId);
  if (byJob) return byJob;
  const [blueRuns, greenRuns] = found.map((c) => Boolean(c?.State.Running));
  if (!(blueRuns && greenRuns)) return blueRuns ? 'green' : 'blue';
  return (await router.pointsAt(servers(plansOf('blue')))) ? 'green' : 'blue';
}

const COLORS = ['blue', 'green'] as const;
type Color = (typeof COLORS)[number];

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
    const router = routerFor(task);
    const plansOf = (color: string) => planComponents(task, sticker.contentHash, writtenAt, color);
    if (router && colorsApart(plansOf)) return this.routed(task, router, docker, dockerHost, sticker, log, signal);
    if (task.strategy === 'blue_green') {
      const error = router
        ? 'blue_green needs a port per colour for every component (e.g. services.<component>.port "${label.port.web.${color}}")'
        : 'blue_green needs strategyConfig.router';
      return { status: 'failed', error, artifacts: [], observed: [] };
    }
    // In place: the old container stops (with its grace period) before the new one can take its port.
    const grace = task.config.stopGraceSeconds ?? 10;
    log(
      router
        ? `${task.strategy}: the ports do not depend on \${color}, so the router cannot switch: replacing in place (requests fail while it restarts)`
        : `${task.strategy}: no router: replacing in place (requests fail while it restarts)`,
    );
    const plans = planComponents(task, sticker.contentHash, writtenAt);
    for (const p of plans) await pull(docker, p.ref, log);
    signal.throwIfAborted(); // the lease was lost while pulling: leave the target to the new holder
    for (const p of plans) await replaceContainer(docker, p, task.jobId, log, grace);
    const verdict = await verifyAll(docker, dockerHost, plans, log, signal);
    const observed = await Promise.all(plans.map((p) => observeContainer(docker, p.component.name, p.component.image, [p.containerName])));
    const artifacts = [{ name: `container-spec.${task.target.name}.json`, mediaType: 'application/json', content: canonicalJson(plans) }];
    if (!verdict.ok) return { status: 'failed', error: verdict.error, artifacts, observed, health: verdict.health };
    await writeAtomic(stickerPath(this.stateDir, task.target.name), `${JSON.stringify(sticker.content, null, 2)}\n`);
    log(`sticker ${sticker.contentHash} written`);
    return { status: 'succeeded', sticker, artifacts, observed, health: verdict.health };
  }

  /**
   * Every strategy with a router: the new colour starts beside the serving one, must pass its health check,
   * then the router is switched (and the reload confirmed), the old colour drains (requests in flight
   * end) and is stopped with its grace period, then removed. A new colour that fails before the switch is
   * removed having served nothing; the old one is never touched.
   */
  private async routed(
    task: AgentTask,
    router: Router,
    docker: Docker,
    dockerHost: string,
    sticker: ReturnType<typeof stickerFor>,
    log: TaskLog,
    signal: AbortSignal,
  ): Promise<ExecResult> {
    const writtenAt = String(sticker.content.writtenAt);
    const plansOf = (color: string) => planComponents(task, sticker.contentHash, writtenAt, color);
    const serving = await this.serving(task, router, docker, dockerHost, log, signal);
    if (serving) return serving; // the router already points at this release, running and healthy: nothing to move
    const color = await newColor(docker, task, router, plansOf);
    const old = color === 'blue' ? 'green' : 'blue';
    const grace = task.config.stopGraceSeconds ?? 10;
    log(`${task.strategy}: starting the ${color} set beside ${old}`);
    const plans = plansOf(color);
    const removeNew = async () => {
      for (const p of plans) await removeContainer(docker, p.containerName, log); // the old set keeps serving
    };
    for (const p of plans) await pull(docker, p.ref, log);
    signal.throwIfAborted();
    for (const p of plans) await replaceContainer(docker, p, task.jobId, log, grace);
    const verdict = await verifyAll(docker, dockerHost, plans, log, signal);
    const observed = await Promise.all(plans.map((p) => observeContainer(docker, p.component.name, p.component.image, [p.containerName])));
    const files = router.render(servers(plans));
    const artifacts = files.map((f, i) => ({
      name: `router.${task.target.name}${i ? `.${i}` : ''}.${router.type}`,
      mediaType: 'text/plain',
      content: f.content,
    }));
    if (!verdict.ok) {
      await removeNew();
      return { status: 'failed', error: verdict.error, artifacts, observed, health: verdict.health };
    }
    signal.throwIfAborted();
    log(`router: switching ${task.target.name} to the ${color} set`);
    let drained: { drained: boolean; ms: number };
    try {
      const sw = await router.switchTo(servers(plans), log, signal);
      log(`router switched to ${color}`);
      const drainSeconds = task.config.drainSeconds ?? 5;
      drained = await sw.drain(drainSeconds * 1000, signal);
      log(
        drained.drained
          ? `${old} set drained (${sw.drainedWhen} after ${drained.ms} ms)`
          : `${old} set: drain time (${drainSeconds} s) reached with requests possibly still in flight; stopping it`,
      );
    } catch (err) {
      if (!(err instanceof RouterError)) throw err;
      log(err.message);
      await removeNew();
      return { status: 'failed', error: err.message, artifacts, observed };
    }
    // The old set: the other colour, and an uncoloured container left by the in-place path.
    for (const c of task.components) {
      for (const name of [containerName(task.target.name, c.name, old), containerName(task.target.name, c.name)]) {
        await stopAndRemove(docker, name, grace, log);
      }
    }
    await writeAtomic(stickerPath(this.stateDir, task.target.name), `${JSON.stringify(sticker.content, null, 2)}\n`);
    log(`sticker ${sticker.contentHash} written`);
    return { status: 'succeeded', sticker, artifacts, observed, health: { ...verdict.health, color, drainMs: drained.ms } };
  }

  /**
   * With a router: when its files point at a colour whose containers run the task's digests, healthy, the
   * target already serves the release (a rollback to what a failed task left serving, a retried task
   * whose switch was done): the success to report, else null.
   */
  private async serving(task: AgentTask, router: Router, docker: Docker, dockerHost: string, log: TaskLog, signal: AbortSignal) {
    const file = stickerPath(this.stateDir, task.target.name);
    const existing = await readSticker(file);
    const sticker = stickerToKeep(task, existing);
    for (const color of COLORS) {
      const plans = planComponents(task, sticker.contentHash, String(sticker.content.writtenAt), color);
      if (!(await router.pointsAt(servers(plans)))) continue;
      // a few probes: one slow answer should not turn "already serving" into a needless switch
      const seen = await runsAsPlanned(docker, dockerHost, plans, log, signal, 2);
      if (!seen) return null;
      log(`router already points at the ${color} set, which runs this release healthy: nothing to switch`);
      if (sticker !== existing) await writeAtomic(file, `${JSON.stringify(sticker.content, null, 2)}\n`);
      const artifacts = router.render(servers(plans)).map((f, i) => ({
        name: `router.${task.target.name}${i ? `.${i}` : ''}.${router.type}`,
        mediaType: 'text/plain',
        content: f.content,
      }));
      return { status: 'succeeded' as const, sticker, artifacts, observed: seen.observed, health: { ...seen.health, color } };
    }
    return null;
  }

  async alreadyDone(task: AgentTask, log: TaskLog, signal: AbortSignal): Promise<ExecResult | null> {
    const dockerHost = String(task.target.connection.dockerHost);
    const docker = connectEngine(dockerHost);
    const router = routerFor(task);
    if (router) return this.serving(task, router, docker, dockerHost, log, signal);
    if (task.strategy === 'blue_green') return null;
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
