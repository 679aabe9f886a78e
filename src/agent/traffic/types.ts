// The traffic router interface of progressive delivery: how an agent applies a route's split between the
// variations of a release (weights, a header that selects one, sticky cookies) on the proxy of its target.
// nginx, HAProxy and exec (a third-party program) implement it; trafficRouterFor() (index.ts) picks one.
import type { TrafficSplit } from '../../protocol/traffic.js';

export interface TrafficRouter {
  readonly type: string;
  /**
   * First setup or full re-render (new servers, a header or sticky cookie added or changed): writes the
   * proxy's configuration, validates it and reloads the proxy if it needs a reload to read it. When the
   * validation fails, the previous configuration is put back before it throws.
   */
  configure(split: TrafficSplit): Promise<void>;
  /**
   * Changes only the weights, with no failed request and no reload where the proxy allows it. The servers,
   * header and sticky cookie must be the configured ones (otherwise: configure()).
   */
  shift(split: TrafficSplit): Promise<void>;
  /** The weights in effect per variation name, in percent, as read back from the proxy (or its split file). */
  distribution(): Promise<Record<string, number>>;
  /** Checks the configuration in place (and runs the router's validateCommand when it has one). */
  validate(): Promise<void>;
  /** Runs the router's reloadCommand (nothing when it has none). */
  reload(): Promise<void>;
}

/** A traffic router step that failed; the message says what to check or do. */
export class TrafficRouterError extends Error {
  override readonly name = 'TrafficRouterError';
}
