// Traefik as a router: a file-provider dynamic configuration with one service per target and component.
// Traefik watches the file and has no reload to confirm, so the drain is the configured time.
import type { RouteServer } from './types.js';

export function renderTraefik(target: string, servers: RouteServer[]): string {
  const services = servers.map(
    (s) => `    ${target}-${s.component}:\n      loadBalancer:\n        servers:\n          - url: "http://${s.host}:${s.port}"\n`,
  );
  return `http:\n  services:\n${services.join('')}`;
}
