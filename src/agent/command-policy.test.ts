// Which router programs an agent runs: the defaults (the proxies' own tools, bare or from a system
// directory), an operator's list (names or absolute paths), and never a third-party program by default.
import { describe, expect, it } from 'vitest';
import { checkRouterCommand, programAllowed } from './command-policy.js';

describe('router command policy', () => {
  it('allows the proxies’ tools by name or from a system directory, nothing else', () => {
    for (const ok of ['nginx', '/usr/sbin/nginx', '/usr/sbin/haproxy', 'kill', '/bin/kill', 'systemctl']) {
      expect(() => checkRouterCommand([ok, '-t'], 'validate', false, {}), ok).not.toThrow();
    }
    for (const bad of ['sh', '/bin/sh', 'bash', '/tmp/nginx', '/usr/sbin/../../tmp/nginx', 'curl', '']) {
      expect(() => checkRouterCommand([bad], 'validate', false, {}), bad).toThrow(/does not run .* for a router/);
    }
  });

  it('follows the operator’s list: names and absolute paths', () => {
    const env = { GANTRY_AGENT_ROUTER_COMMANDS: 'nginx, /opt/edge/bin/edgectl' };
    expect(() => checkRouterCommand(['/opt/edge/bin/edgectl', 'apply'], 'exec', true, env)).not.toThrow();
    expect(() => checkRouterCommand(['/usr/bin/nginx'], 'reload', false, env)).not.toThrow();
    expect(() => checkRouterCommand(['haproxy', '-c'], 'validate', false, env)).toThrow(/now "nginx,\/opt\/edge\/bin\/edgectl"/);
    expect(programAllowed('edgectl', ['/opt/edge/bin/edgectl'])).toBe(false);
  });

  it('never runs a third-party router program unless listed', () => {
    expect(() => checkRouterCommand(['nginx'], 'exec', true, {})).toThrow(/a third-party router program must be listed/);
  });
});
