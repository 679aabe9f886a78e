// Whether an update of a target can keep serving throughout, decided from the strategy config alone (pure):
// the reason it cannot, or null. The operator sees it before a job starts; the compose_host executor takes
// its in-place path for the same reasons, so what is announced is what happens.
import type { StrategyConfig } from './deployment.js';

/** The port template a component's router entry and health probe use (as planComponents resolves it). */
function portTemplate(config: StrategyConfig, component: string): number | string | undefined {
  const svc = config.services?.[component];
  return svc?.healthCheck?.port ?? config.healthCheck?.port ?? svc?.port;
}

/**
 * compose_host: an update is zero-downtime only with a router and, for every component, a port that
 * differs per colour (a template with `${color}`), so the new colour's project can run beside the old
 * one before traffic moves. `components` are the release's component names (default: those with a
 * `services` entry). Other target types: null (their executors decide for themselves).
 */
export function zeroDowntimeBlocker(targetType: string, config: StrategyConfig, components?: string[]): string | null {
  if (targetType !== 'compose_host') return null;
  const inPlace = 'containers are recreated in place (compose up -d), so requests fail while each one restarts';
  if (!config.router) return `compose_host without strategyConfig.router: ${inPlace}`;
  const names = components ?? Object.keys(config.services ?? {});
  if (names.length === 0) return `compose_host: no service port for the router (strategyConfig.services.<component>.port); ${inPlace}`;
  for (const name of names) {
    const port = portTemplate(config, name);
    if (port === undefined) return `compose_host: component ${name} has no port for the router (services.${name}.port); ${inPlace}`;
    if (typeof port === 'number' || !port.includes('${color}')) {
      return `compose_host: component ${name} listens on the same host port (${port}) in both colours (use a \${color} template); ${inPlace}`;
    }
  }
  return null;
}
