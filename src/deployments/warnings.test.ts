import { describe, expect, it } from 'vitest';
import { strategyConfig } from '../protocol/deployment.js';
import { switchWarnings } from './warnings.js';

const targets = [
  { name: 'd1', target_type: 'docker_host' },
  { name: 'd2', target_type: 'docker_host' },
  { name: 'c1', target_type: 'compose_host' },
];
const router = { type: 'nginx', path: '/etc/nginx/gantry/${target.name}.conf', pidFile: '/run/nginx.pid' };
const perColor = { services: { web: { port: '${label.port.web.${color}}' } } };

describe('switchWarnings', () => {
  it('names docker_host targets without a router: replaced in place, with the grace period', () => {
    const w = switchWarnings('rolling', strategyConfig.parse({ stopGraceSeconds: 7 }), ['web'], targets);
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/^docker_host target\(s\) d1, d2: no router .*stopped \(SIGTERM, up to 7 s\) and replaced in place/);
    expect(w[1]).toMatch(/^compose_host target\(s\) c1: not zero-downtime: compose_host without strategyConfig.router/);
  });

  it('says blue_green without a router will fail', () => {
    expect(switchWarnings('blue_green', strategyConfig.parse({}), ['web'], targets)[0]).toMatch(/blue_green needs strategyConfig.router/);
  });

  it('warns when a port does not move with ${color} (both colours would need one host port)', () => {
    const cfg = strategyConfig.parse({ router, services: { web: { port: '${label.port.web}' } } });
    expect(switchWarnings('all_at_once', cfg, ['web'], targets)[0]).toMatch(/does not depend on \$\{color\}.*replaced in place/);
  });

  it('warns that an nginx reload cannot be confirmed without pidFile', () => {
    const cfg = strategyConfig.parse({ router: { ...router, pidFile: undefined }, ...perColor, drainSeconds: 3 });
    expect(switchWarnings('canary', cfg, ['web'], targets)).toEqual([
      'router: nginx reloads cannot be confirmed without router.pidFile; after each switch the old containers get the full drainSeconds (3 s) before they are stopped',
    ]);
  });

  it('has nothing to say with a confirmable router and ports per colour', () => {
    expect(switchWarnings('rolling', strategyConfig.parse({ router, ...perColor }), ['web'], targets)).toEqual([]);
  });

  it('names compose_host targets whose port is fixed in both colours', () => {
    const cfg = strategyConfig.parse({ router, services: { web: { port: '8080' } } });
    expect(switchWarnings('rolling', cfg, ['web'], [targets[2]!])).toEqual([
      expect.stringMatching(/^compose_host target\(s\) c1: not zero-downtime: .*same host port/),
    ]);
  });
});
