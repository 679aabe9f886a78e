// The router interface: how an executor moves a target's traffic from its serving containers to new ones
// (render the route files, write them, validate, reload, confirm the reload took effect, then tell when
// the previous containers can no longer receive requests). nginx and Traefik implement it; another proxy
// follows by implementing `Router` and adding itself to routerFor() (index.ts).
import type { TaskLog } from '../executors/types.js';

/** One component's serving address on the target. */
export interface RouteServer {
  component: string;
  host: string;
  port: number;
}

export interface RouteFile {
  path: string;
  content: string;
}

/** A switch that took effect: the files now in place, and how to wait for the previous servers to drain. */
export interface RouterSwitch {
  files: RouteFile[];
  /** Whether the proxy confirmed it serves the new files (false: it cannot tell, e.g. no pid file). */
  confirmed: boolean;
  /** What a drain that ends early waits for, for log lines ("the previous proxy workers exited"). */
  drainedWhen: string;
  /**
   * Resolves when no request can reach the previous servers through the proxy any more (requests in
   * flight have ended), or after maxMs at the latest. `drained: false` means the bound was reached.
   */
  drain(maxMs: number, signal?: AbortSignal): Promise<{ drained: boolean; ms: number }>;
}

export interface Router {
  readonly type: string;
  /** The route files for these servers (pure: for artifacts and to tell which set the proxy points at). */
  render(servers: RouteServer[]): RouteFile[];
  /**
   * Writes the files atomically, runs the validate and reload commands and confirms the reload. When a
   * step fails, the previous files are put back (and the proxy reloaded with them) before it throws
   * RouterError: the previous servers keep serving.
   */
  switchTo(servers: RouteServer[], log: TaskLog, signal?: AbortSignal): Promise<RouterSwitch>;
  /** Whether the files in place are exactly the ones for these servers. */
  pointsAt(servers: RouteServer[]): Promise<boolean>;
}

export class RouterError extends Error {}
