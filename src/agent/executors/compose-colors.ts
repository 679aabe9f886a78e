// compose_host without downtime: each release runs as its own colour project (`<project>-blue|green`,
// ports from `${color}` templates) beside the serving one; traffic moves through the router only once every
// service of the new project is healthy, then the old project drains, is stopped (SIGTERM, grace period)
// and removed. A new project that fails before the switch served nothing and is taken down.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { AgentTask } from '../../protocol/deployment.js';
import { containerName, stickerFor } from '../../protocol/deployment-values.js';
import { type Router, RouterError, type RouteServer, routerFor } from '../routers/index.js';
import {
  COLORS,
  type Color,
  type ComposeConnection,
  clearInterrupted,
  colorLockFile,
  colorPidFile,
  composeUp,
  DEFAULT_DRAIN_SECONDS,
  DEFAULT_STOP_GRACE_SECONDS,
  lockFile,
  projectName,
  STICKER_FILE,
  waitForOrphan,
} from './compose-project.js';
import { verifyAll, writeAtomic } from './docker.js';
import { inspectContainer, observeContainer, pull } from './engine.js';
import { type ComponentPlan, planComponents, probeHost } from './spec.js';
import type { ExecResult, TaskLog } from './types.js';

/** Where the router sends each component of a colour. */
export function routeServers(dockerHost: string, plans: ComponentPlan[]): RouteServer[] {
  return plans.map((p) => ({ component: p.component.name, host: probeHost(dockerHost), port: p.port! }));
}

/**
 * The colour a task starts. A retried task takes the colour its job already started; otherwise the colour
 * that is not running. When both run (a task of another job was interrupted between start and switch),
 * the router files say which one serves, and the other one is replaced.
 */
async function newColor(docker: Docker, task: AgentTask, router: Router, serversOf: (color: Color) => RouteServer[]): Promise<Color> {
  const first = task.components[0]!;
  const found = await Promise.all(COLORS.map((c) => inspectContainer(docker, containerName(task.target.name, first.name, c))));
  const byJob = COLORS.find((_, i) => found[i]?.Config.Labels?.['gantry.job'] === task.jobId);
  if (byJob) return byJob;
  const [blueRuns, greenRuns] = found.map((c) => Boolean(c?.State.Running));
  if (!(blueRuns && greenRuns)) return blueRuns ? 'green' : 'blue';
  return (await router.pointsAt(serversOf('blue'))) ? 'green' : 'blue';
}

/** SIGTERM, up to `graceSeconds` for the container to exit, then SIGKILL (the engine's stop); then removes it. */
export async function stopAndRemove(docker: Docker, name: string, graceSeconds: number, log: TaskLog): Promise<void> {
  const c = await inspectContainer(docker, name);
  if (!c) return;
  if (c.State.Running) {
    const t0 = Date.now();
    await docker
      .getContainer(c.Id)
      .stop({ t: graceSeconds })
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 304) throw err; // 304: it stopped meanwhile
      });
    log(`${name}: stopped (SIGTERM, grace ${graceSeconds} s) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  await docker.getContainer(c.Id).remove({ force: true });
  log(`${name}: removed`);
}

/** Of a component's candidate containers, the order to read them in: the sticker's first, then running ones. */
export async function servingFirst(docker: Docker, names: string[], stickerHash: string | null): Promise<string[]> {
  const seen = await Promise.all(names.map((n) => inspectContainer(docker, n)));
  const score = (i: number) => {
    const c = seen[i];
    if (!c) return 0;
    return (stickerHash && c.Config.Labels?.['gantry.sticker-hash'] === stickerHash ? 4 : 0) + (c.State.Running ? 2 : 0) + 1;
  };
  return names
    .map((n, i) => ({ n, s: score(i) }))
    .sort((a, b) => b.s - a.s)
    .map((x) => x.n);
}

export async function deployColored(
  task: AgentTask,
  conn: ComposeConnection,
  docker: Docker,
  log: TaskLog,
  signal: AbortSignal,
): Promise<ExecResult> {
  const router = routerFor(task)!;
  const grace = task.config.stopGraceSeconds ?? DEFAULT_STOP_GRACE_SECONDS;
  const drainSeconds = task.config.drainSeconds ?? DEFAULT_DRAIN_SECONDS;
  const fresh = stickerFor(task, new Date());
  const portsOf = (c: Color) => routeServers(conn.dockerHost, planComponents(task, fresh.contentHash, String(fresh.content.writtenAt), c));
  const color = await newColor(docker, task, router, portsOf);
  const old: Color = color === 'blue' ? 'green' : 'blue';
  // A retry whose earlier attempt already switched: this colour serves and is not restarted, and the
  // sticker is that attempt's (its containers carry its hash and time).
  const labels = (await inspectContainer(docker, containerName(task.target.name, task.components[0]!.name, color)))?.Config.Labels ?? {};
  const switched = labels['gantry.job'] === task.jobId && (await router.pointsAt(portsOf(color)));
  const earlier = labels['gantry.written-at'];
  const sticker = switched && earlier ? stickerFor(task, new Date(earlier)) : fresh;
  const plans = planComponents(task, sticker.contentHash, String(sticker.content.writtenAt), color);
  const servers = routeServers(conn.dockerHost, plans);
  const project = `${projectName({ name: task.target.name, connection: conn })}-${color}`;
  const content = lockFile(task, plans, grace);
  const file = path.join(conn.projectDir, colorLockFile(color));
  const artifacts = [
    { name: colorLockFile(color), mediaType: 'application/yaml', content },
    ...router.render(servers).map((f, i) => ({
      name: `router.${task.target.name}${i ? `.${i}` : ''}.${router.type}`,
      mediaType: 'text/plain',
      content: f.content,
    })),
  ];
  const takeDown = async () => {
    for (const p of plans) await stopAndRemove(docker, p.containerName, grace, log);
    log(`project ${project} taken down; it served nothing, ${old} keeps serving`);
  };

  for (const p of plans) await pull(docker, p.ref, log);
  signal.throwIfAborted(); // the lease was lost while pulling: leave the target to the new holder
  if (switched) log(`the router already points at ${color} (an earlier attempt switched): finishing`);
  else {
    log(`compose_host: starting project ${project} (${color}) beside ${old}`);
    const pidFile = path.join(conn.projectDir, colorPidFile(color));
    if (task.attempt > 1) {
      await waitForOrphan(pidFile, file, log);
      await clearInterrupted(docker, task, plans, log);
    }
    await writeAtomic(file, content);
    log(`wrote ${file}`);
    try {
      await composeUp(conn, project, file, pidFile, grace, log, signal);
    } catch (err) {
      if (!signal.aborted) await takeDown();
      throw err;
    }
  }
  const verdict = await verifyAll(docker, conn.dockerHost, plans, log, signal);
  const observed = await Promise.all(plans.map((p) => observeContainer(docker, p.component.name, p.component.image, [p.containerName])));
  if (!verdict.ok) {
    if (!switched && !signal.aborted) await takeDown();
    return { status: 'failed', error: verdict.error, artifacts, observed, health: verdict.health };
  }
  signal.throwIfAborted();
  // After a retry that finds the switch done, when it happened is unknown: the old colour gets the whole drain time.
  let drainFor = async (maxMs: number) => {
    await new Promise((r) => setTimeout(r, maxMs));
    return { drained: false, ms: maxMs };
  };
  if (!switched) {
    try {
      const sw = await router.switchTo(servers, log, signal);
      drainFor = (maxMs) => sw.drain(maxMs, signal);
    } catch (err) {
      // The previous router files are back in place (switchTo restored them): the old colour keeps serving.
      if (!(err instanceof RouterError)) throw err;
      await takeDown();
      return { status: 'failed', error: err.message, artifacts, observed, health: verdict.health };
    }
  }
  // The old set: the other colour's project, and the uncoloured one an in-place update left.
  const oldNames = task.components.flatMap((c) => [containerName(task.target.name, c.name, old), containerName(task.target.name, c.name)]);
  const running = (await Promise.all(oldNames.map((n) => inspectContainer(docker, n)))).some((c) => c?.State.Running);
  if (running) {
    const d = await drainFor(drainSeconds * 1000);
    log(
      d.drained
        ? `old colour ${old} drained in ${(d.ms / 1000).toFixed(1)} s`
        : `drain time (${drainSeconds} s) over; stopping ${old} with requests possibly in flight`,
    );
  }
  for (const n of oldNames) await stopAndRemove(docker, n, grace, log);
  await rm(path.join(conn.projectDir, colorLockFile(old)), { force: true });
  await writeAtomic(path.join(conn.projectDir, STICKER_FILE), `${JSON.stringify(sticker.content, null, 2)}\n`);
  log(`sticker ${sticker.contentHash} written`);
  return { status: 'succeeded', sticker, artifacts, observed, health: { ...verdict.health, color } };
}
