// What each component of a task becomes on the target: container name, pinned image reference, command,
// environment, labels, and its health check with the port resolved from templates.
import { type AgentTask, type HealthCheck, healthCheck, type TaskComponent } from '../../protocol/deployment.js';
import { containerLabels, containerName, expandTemplate } from '../../protocol/deployment-values.js';

export interface ComponentPlan {
  component: TaskComponent;
  containerName: string;
  /** repo@sha256:… — never a tag. */
  ref: string;
  command: string[] | undefined;
  env: string[];
  labels: Record<string, string>;
  port: number | undefined;
  health: HealthCheck;
}

export function planComponents(task: AgentTask, stickerHash: string, writtenAt: string, color?: string): ComponentPlan[] {
  return task.components.map((c) => {
    const svc = task.config.services?.[c.name] ?? {};
    const vars = { task, component: c.name, ...(color ? { color } : {}) };
    const health = healthCheck.parse({ ...(task.config.healthCheck ?? {}), ...(svc.healthCheck ?? {}) });
    const rawPort = svc.healthCheck?.port ?? task.config.healthCheck?.port ?? svc.port;
    const port = rawPort === undefined ? undefined : Number(typeof rawPort === 'number' ? rawPort : expandTemplate(rawPort, vars));
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      throw new Error(`component ${c.name}: port "${rawPort}" is not a TCP port on target ${task.target.name}`);
    }
    const labels = containerLabels(task, c, stickerHash, writtenAt);
    if (color) labels['gantry.color'] = color;
    return {
      component: c,
      containerName: containerName(task.target.name, c.name, color),
      ref: `${c.image}@${c.digest}`,
      command: svc.command?.map((s) => expandTemplate(s, vars)),
      env: Object.entries(svc.env ?? {}).map(([k, v]) => `${k}=${expandTemplate(v, vars)}`),
      labels,
      port,
      health,
    };
  });
}

/** The host a probe connects to for a Docker endpoint: the tcp:// host, or this machine for a unix socket. */
export function probeHost(dockerHost: string): string {
  const m = /^tcp:\/\/\[?([^\]]+?)\]?:\d+$/.exec(dockerHost);
  return m ? m[1]! : '127.0.0.1';
}
