import { describe, expect, it } from 'vitest';
import { strategyConfig } from './deployment.js';
import { zeroDowntimeBlocker } from './zero-downtime.js';

const router = { type: 'nginx', path: '/etc/nginx/gantry/${target.name}.conf', reloadCommand: ['nginx', '-s', 'reload'] };
const colored = { services: { web: { port: '${label.port.web.${color}}' } } };

describe('zeroDowntimeBlocker (compose_host)', () => {
  it('is null with a router and a per-colour port for every component', () => {
    expect(zeroDowntimeBlocker('compose_host', strategyConfig.parse({ router, ...colored }), ['web'])).toBeNull();
    // a health check port template counts as the component's port
    const viaHealth = strategyConfig.parse({ router, healthCheck: { type: 'http', port: '${label.port.${color}}' } });
    expect(zeroDowntimeBlocker('compose_host', viaHealth, ['web', 'api'])).toBeNull();
  });

  it('names the reason without a router', () => {
    expect(zeroDowntimeBlocker('compose_host', strategyConfig.parse(colored), ['web'])).toMatch(
      /without strategyConfig.router: .*in place/,
    );
  });

  it('names the reason for a fixed host port or a component without a port', () => {
    const fixed = strategyConfig.parse({ router, services: { web: { port: '8080' } } });
    expect(zeroDowntimeBlocker('compose_host', fixed, ['web'])).toMatch(/component web listens on the same host port \(8080\)/);
    const numeric = strategyConfig.parse({ router, healthCheck: { port: 9000 } });
    expect(zeroDowntimeBlocker('compose_host', numeric, ['web'])).toMatch(/same host port \(9000\)/);
    expect(zeroDowntimeBlocker('compose_host', strategyConfig.parse({ router, ...colored }), ['web', 'worker'])).toMatch(
      /component worker has no port for the router/,
    );
    expect(zeroDowntimeBlocker('compose_host', strategyConfig.parse({ router }))).toMatch(/no service port for the router/);
  });

  it('leaves other target types to their executors', () => {
    expect(zeroDowntimeBlocker('docker_host', strategyConfig.parse({}), ['web'])).toBeNull();
    expect(zeroDowntimeBlocker('ssh_host', strategyConfig.parse({}), ['web'])).toBeNull();
  });
});
