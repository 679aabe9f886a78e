// ssh_host executor (agentless): connects with the target's key (ssh2) and runs the same steps as the
// docker_host executor with the remote docker CLI: pull by digest, replace the container under its
// deterministic name, health through an SSH tunnel, sticker in ~/.gantry/targets/<name>/.
import type { AgentTask, Observation, ObservedComponent } from '../../protocol/deployment.js';
import { canonicalJson, containerName, sha256Of, stickerFor } from '../../protocol/deployment-values.js';
import { type ProbeMeans, waitHealthy } from '../health.js';
import { removeOverSsh } from './remove.js';
import { type ComponentPlan, planComponents } from './spec.js';
import { type SshConnection, SshSession, sq } from './ssh-session.js';
import type { ExecResult, Executor, ObserveTarget, TaskLog } from './types.js';

function dockerCmd(conn: SshConnection): string {
  return conn.dockerHost ? `docker -H ${sq(conn.dockerHost)}` : 'docker';
}

const stickerDir = (name: string) => `"$HOME"/.gantry/targets/${sq(name)}`;

async function observeOne(s: SshSession, docker: string, component: string, image: string, names: string[]): Promise<ObservedComponent> {
  for (const name of names) {
    const r = await s.run(`${docker} inspect --type container ${sq(name)}`);
    if (r.code !== 0) continue;
    // any: docker inspect JSON, read field by field
    const c = (JSON.parse(r.stdout) as any[])[0];
    const img = await s.run(`${docker} image inspect --format '{{json .RepoDigests}}' ${sq(c.Image)}`);
    const digests: string[] = img.code === 0 ? (JSON.parse(img.stdout) ?? []) : [];
    const match = digests.find((d) => d.startsWith(`${image}@`));
    return {
      component,
      containerName: name,
      containerId: c.Id,
      image: c.Config.Image,
      digest: match ? match.slice(image.length + 1) : null,
      running: Boolean(c.State.Running),
      labels: c.Config.Labels ?? {},
    };
  }
  return { component, containerName: names[0]!, containerId: null, image: null, digest: null, running: false, labels: {} };
}

export class SshExecutor implements Executor {
  /** resolveKey turns the target's credentialRef into the private key (server-side secret store). */
  constructor(private readonly resolveKey: (credentialRef: string) => Promise<string>) {}

  async info(): Promise<Record<string, string>> {
    return {};
  }

  private async session(connection: Record<string, unknown>): Promise<{ s: SshSession; conn: SshConnection }> {
    const conn = connection as unknown as SshConnection & { credentialRef: string };
    const key = await this.resolveKey(conn.credentialRef);
    return { s: await SshSession.connect(conn, key), conn };
  }

  async execute(task: AgentTask, log: TaskLog, signal: AbortSignal): Promise<ExecResult> {
    const { s, conn } = await this.session(task.target.connection);
    try {
      const docker = dockerCmd(conn);
      log(`connected to ${conn.user}@${conn.host}:${conn.port ?? 22}`);
      if (task.action === 'remove') return await removeOverSsh(s, docker, task, log);
      const sticker = stickerFor(task, new Date());
      const plans = planComponents(task, sticker.contentHash, String(sticker.content.writtenAt));
      for (const p of plans) {
        log(`pulling ${p.ref}`);
        await s.must(`${docker} pull -q ${sq(p.ref)}`, log);
      }
      for (const p of plans) await this.replace(s, docker, p, task.jobId, log);
      const health: Record<string, unknown> = {};
      for (const p of plans) {
        const out = await waitHealthy(p.health, p.port, this.means(s, docker, p.containerName), log, p.containerName, signal);
        health[p.component.name] = out;
        if (!out.ok) {
          const observed = await Promise.all(
            plans.map((x) => observeOne(s, docker, x.component.name, x.component.image, [x.containerName])),
          );
          return { status: 'failed', error: `${p.component.name} is unhealthy: ${out.detail}`, artifacts: [], observed, health };
        }
      }
      await s.must(
        `mkdir -p ${stickerDir(task.target.name)} && cat > ${stickerDir(task.target.name)}/gantry.version.json`,
        undefined,
        `${JSON.stringify(sticker.content, null, 2)}\n`,
      );
      log(`sticker ${sticker.contentHash} written`);
      const observed = await Promise.all(plans.map((p) => observeOne(s, docker, p.component.name, p.component.image, [p.containerName])));
      const artifacts = [{ name: `container-spec.${task.target.name}.json`, mediaType: 'application/json', content: canonicalJson(plans) }];
      return { status: 'succeeded', sticker, artifacts, observed, health };
    } finally {
      s.close();
    }
  }

  /** Same rule as the engine executor: keep a container already running this digest for this job, else replace it. */
  private async replace(s: SshSession, docker: string, p: ComponentPlan, jobId: string, log: TaskLog): Promise<void> {
    const cur = await s.run(
      `${docker} inspect --type container --format '{{index .Config.Labels "gantry.digest"}} {{index .Config.Labels "gantry.job"}} {{.State.Running}}' ${sq(p.containerName)}`,
    );
    if (cur.code === 0 && cur.stdout.trim() === `${p.component.digest} ${jobId} true`) {
      log(`${p.containerName}: already runs ${p.component.digest} for this job; kept`);
      return;
    }
    if (cur.code === 0) await s.must(`${docker} rm -f ${sq(p.containerName)}`, log);
    const labels = Object.entries(p.labels).map(([k, v]) => `--label ${sq(`${k}=${v}`)}`);
    const env = p.env.map((e) => `-e ${sq(e)}`);
    const cmd = (p.command ?? []).map(sq);
    log(`${p.containerName}: creating from ${p.ref}`);
    await s.must(
      [docker, 'run -d --name', sq(p.containerName), '--network host --restart unless-stopped', ...labels, ...env, sq(p.ref), ...cmd].join(
        ' ',
      ),
      log,
    );
  }

  private means(s: SshSession, docker: string, name: string): ProbeMeans {
    return {
      connect: (port) => s.tunnel(port),
      async container() {
        const r = await s.run(
          `${docker} inspect --type container --format '{{.State.Running}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' ${sq(name)}`,
        );
        const [running, health] = r.stdout.trim().split(' ');
        return { running: r.code === 0 && running === 'true', health: health || null };
      },
    };
  }

  async observe(t: ObserveTarget): Promise<Observation> {
    let session: SshSession | undefined;
    try {
      const { s, conn } = await this.session(t.connection);
      session = s;
      const docker = dockerCmd(conn);
      const components = [];
      for (const c of t.components) components.push(await observeOne(s, docker, c.name, c.image, [containerName(t.name, c.name)]));
      const st = await s.run(`cat ${stickerDir(t.name)}/gantry.version.json`);
      let sticker: Observation['sticker'] = null;
      if (st.code === 0) {
        const content = JSON.parse(st.stdout) as Record<string, unknown>;
        sticker = { content, contentHash: sha256Of(canonicalJson(content)) };
      }
      return { targetId: t.targetId, components, sticker };
    } catch (err) {
      return { targetId: t.targetId, components: [], sticker: null, error: `cannot observe: ${(err as Error).message}` };
    } finally {
      session?.close();
    }
  }
}
