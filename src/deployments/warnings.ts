// Warnings a deployment job carries from its creation: what will not switch without downtime, said before
// anything starts (the job API, the CLI and the UI show them).
import type { Strategy, StrategyConfig } from '../protocol/deployment.js';
import { zeroDowntimeBlocker } from '../protocol/zero-downtime.js';

interface WarnTarget {
  name: string;
  target_type: string;
}

const list = (names: string[]) => (names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', '));

/** Whether every component's port moves with ${color}, so two colours can run side by side. */
function portsPerColor(cfg: StrategyConfig, components: string[]): boolean {
  return components.every((c) => {
    const svc = cfg.services?.[c];
    const port = svc?.healthCheck?.port ?? cfg.healthCheck?.port ?? svc?.port;
    return typeof port === 'string' && port.includes('${color}');
  });
}

export function switchWarnings(strategy: Strategy, cfg: StrategyConfig, components: string[], targets: WarnTarget[]): string[] {
  const compose = targets.filter((t) => t.target_type === 'compose_host').map((t) => t.name);
  const composeBlocker = compose.length ? zeroDowntimeBlocker('compose_host', cfg, components) : null;
  const composeWarnings = composeBlocker ? [`compose_host target(s) ${list(compose)}: not zero-downtime: ${composeBlocker}`] : [];
  return [...dockerWarnings(strategy, cfg, components, targets), ...composeWarnings];
}

function dockerWarnings(strategy: Strategy, cfg: StrategyConfig, components: string[], targets: WarnTarget[]): string[] {
  const docker = targets.filter((t) => t.target_type === 'docker_host').map((t) => t.name);
  if (docker.length === 0) return [];
  const grace = cfg.stopGraceSeconds ?? 10;
  if (!cfg.router) {
    if (strategy === 'blue_green')
      return [`docker_host target(s) ${list(docker)}: blue_green needs strategyConfig.router; their tasks will fail`];
    return [
      `docker_host target(s) ${list(docker)}: no router (strategyConfig.router), so no zero-downtime switch: each container is stopped ` +
        `(SIGTERM, up to ${grace} s) and replaced in place on its port; requests to it fail until the new one answers`,
    ];
  }
  if (!portsPerColor(cfg, components)) {
    return [
      `docker_host target(s) ${list(docker)}: the router cannot switch because the port of ${components.join(', ')} does not depend on \${color} ` +
        `(e.g. "\${label.port.web.\${color}}"), so both colours would need one host port: ${
          strategy === 'blue_green'
            ? 'their tasks will fail'
            : `containers are replaced in place (stopped with up to ${grace} s grace); requests fail meanwhile`
        }`,
    ];
  }
  if (cfg.router.type === 'nginx' && !cfg.router.pidFile) {
    return [
      `router: nginx reloads cannot be confirmed without router.pidFile; after each switch the old containers get the full drainSeconds (${cfg.drainSeconds ?? 5} s) before they are stopped`,
    ];
  }
  return [];
}
