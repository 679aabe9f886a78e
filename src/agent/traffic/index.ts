// Traffic routers by type: trafficRouterFor() turns a route's router config into the router that applies
// its splits (nginx: njs split file; haproxy: runtime API; exec: a third-party program).
import type { TrafficRouterConfig } from '../../protocol/traffic.js';
import { type ExecLimits, ExecTrafficRouter } from './exec.js';
import { HaproxyTrafficRouter } from './haproxy.js';
import { NginxTrafficRouter } from './nginx.js';
import { type TrafficRouter, TrafficRouterError } from './types.js';

export { type TrafficRouter, TrafficRouterError } from './types.js';

export const TRAFFIC_ROUTER_TYPES = ['nginx', 'haproxy', 'exec'] as const;

export function trafficRouterFor(cfg: TrafficRouterConfig, opts: { exec?: Partial<ExecLimits> } = {}): TrafficRouter {
  switch (cfg.type) {
    case 'nginx':
      return new NginxTrafficRouter(cfg);
    case 'haproxy':
      return new HaproxyTrafficRouter(cfg);
    case 'exec':
      return new ExecTrafficRouter(cfg, opts.exec);
    default:
      throw new TrafficRouterError(
        `unknown traffic router type "${cfg.type}" for route ${cfg.route}: use one of ${TRAFFIC_ROUTER_TYPES.join(', ')} (exec runs a program for any other proxy)`,
      );
  }
}
