// Docker Engine API operations shared by the docker_host and compose_host executors (dockerode): pull
// by digest, replace a container idempotently, read back what runs (the image digest the engine holds).
import Docker from 'dockerode';
import type { ObservedComponent } from '../../protocol/deployment.js';
import type { ProbeMeans } from '../health.js';
import { directConnect } from '../health.js';
import type { ComponentPlan } from './spec.js';
import { probeHost } from './spec.js';
import { TaskFailure, type TaskLog } from './types.js';

export function connectEngine(dockerHost: string): Docker {
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  const u = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return new Docker({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port), protocol: 'http' });
}

const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;

/** Pulls repo@sha256:… (a no-op when the engine has it). */
export async function pull(docker: Docker, ref: string, log: TaskLog): Promise<void> {
  try {
    await docker.getImage(ref).inspect();
    log(`image ${ref} present`);
    return;
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
  log(`pulling ${ref}`);
  const stream = await docker.pull(ref);
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => {
      const failed = err?.message ?? out?.find((o) => o.error)?.error;
      if (failed) reject(new TaskFailure(`pull ${ref} failed: ${failed}`));
      else resolve();
    });
  });
  log(`pulled ${ref}`);
}

export async function inspectContainer(docker: Docker, name: string): Promise<Docker.ContainerInspectInfo | null> {
  try {
    return await docker.getContainer(name).inspect();
  } catch (err) {
    if (statusOf(err) === 404) return null;
    throw err;
  }
}

/**
 * Makes container `plan.containerName` run `plan.ref`. If it already runs that digest for this job (a
 * retried task after an agent crash) it is kept; otherwise the old one is stopped (SIGTERM, then SIGKILL
 * after `stopGraceSeconds`) and removed first (host network: old and new would fight over the port) and
 * the new one created under the same name, so there is never more than one container per target and
 * component.
 */
export async function replaceContainer(
  docker: Docker,
  plan: ComponentPlan,
  jobId: string,
  log: TaskLog,
  stopGraceSeconds = 10,
): Promise<void> {
  const existing = await inspectContainer(docker, plan.containerName);
  const labels = existing?.Config.Labels ?? {};
  if (existing && labels['gantry.digest'] === plan.component.digest && labels['gantry.job'] === jobId && existing.State.Running) {
    log(`${plan.containerName}: already runs ${plan.component.digest} for this job; kept`);
    return;
  }
  if (existing) {
    log(`${plan.containerName}: replacing the container running ${existing.Config.Image}`);
    await stopAndRemove(docker, plan.containerName, stopGraceSeconds, log);
  }
  log(`${plan.containerName}: creating from ${plan.ref}`);
  const c = await docker.createContainer({
    name: plan.containerName,
    Image: plan.ref,
    ...(plan.command ? { Cmd: plan.command } : {}),
    Env: plan.env,
    Labels: plan.labels,
    HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'unless-stopped' } },
  });
  await c.start();
  log(`${plan.containerName}: started ${c.id.slice(0, 12)}`);
}

/**
 * Stops a container the way `docker stop` does (SIGTERM, SIGKILL after `graceSeconds` if it is still
 * running), then removes it; requests it is answering can finish within the grace period.
 */
export async function stopAndRemove(docker: Docker, name: string, graceSeconds: number, log: TaskLog): Promise<void> {
  const existing = await inspectContainer(docker, name);
  if (!existing) return;
  if (existing.State.Running) {
    const started = Date.now();
    try {
      await docker.getContainer(existing.Id).stop({ t: graceSeconds });
    } catch (err) {
      if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err; // 304: it stopped meanwhile
    }
    log(`${name}: stopped (SIGTERM, grace ${graceSeconds} s; took ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
  try {
    await docker.getContainer(existing.Id).remove({ force: true });
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
  log(`${name}: removed`);
}

export async function removeContainer(docker: Docker, name: string, log: TaskLog): Promise<void> {
  const existing = await inspectContainer(docker, name);
  if (!existing) return;
  await docker.getContainer(existing.Id).remove({ force: true });
  log(`${name}: removed`);
}

/** How health probes reach a container of this engine. */
export function probeMeans(docker: Docker, dockerHost: string, name: string): ProbeMeans {
  return {
    connect: directConnect(probeHost(dockerHost)),
    async container() {
      const c = await inspectContainer(docker, name);
      return { running: Boolean(c?.State.Running), health: c?.State.Health?.Status ?? null };
    },
  };
}

/** What runs under a container name: its image reference and the digest the engine holds for the component's repository. */
export async function observeContainer(docker: Docker, component: string, image: string, names: string[]): Promise<ObservedComponent> {
  for (const name of names) {
    const c = await inspectContainer(docker, name);
    if (!c) continue;
    let digest: string | null = null;
    try {
      const img = await docker.getImage(c.Image).inspect();
      const match = (img.RepoDigests ?? []).find((d) => d.startsWith(`${image}@`));
      digest = match ? match.slice(image.length + 1) : null;
    } catch {
      // the image was removed under the container: the digest stays unknown
    }
    return {
      component,
      containerName: name,
      containerId: c.Id,
      image: c.Config.Image,
      digest,
      running: Boolean(c.State.Running),
      labels: c.Config.Labels ?? {},
    };
  }
  return { component, containerName: names[0]!, containerId: null, image: null, digest: null, running: false, labels: {} };
}
