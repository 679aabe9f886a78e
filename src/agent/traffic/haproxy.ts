// HAProxy as a traffic router: configure() renders the route's backend (haproxy-config.ts), validates and
// reloads; shift() changes the weights through the runtime API, with no reload (the worker and every
// client connection stay), then rewrites the file so that a later restart or reload keeps the split.
import { readFile } from 'node:fs/promises';
import type { TrafficRouterConfig, TrafficSplit } from '../../protocol/traffic.js';
import { haproxyBackendName, haproxyServers, renderedSplit, renderHaproxy } from './haproxy-config.js';
import { haproxySet, haproxyWeight } from './haproxy-runtime.js';
import { runCommand, splitShape, toPercent, writeAtomic } from './support.js';
import { type TrafficRouter, TrafficRouterError } from './types.js';

export class HaproxyTrafficRouter implements TrafficRouter {
  readonly type = 'haproxy';
  private readonly path: string;
  private readonly backend: string;

  constructor(private readonly cfg: TrafficRouterConfig) {
    if (!cfg.path) {
      throw new TrafficRouterError(
        `haproxy traffic router for route ${cfg.route}: set path, the file Gantry renders the route's backend to`,
      );
    }
    this.path = cfg.path;
    this.backend = cfg.backend ?? haproxyBackendName(cfg.route);
  }

  async configure(split: TrafficSplit): Promise<void> {
    const previous = await readFile(this.path, 'utf8').catch(() => null);
    await writeAtomic(this.path, renderHaproxy(this.cfg.route, this.backend, split));
    try {
      await this.validate();
    } catch (err) {
      // HAProxy only reads the file when it (re)starts: the previous one must be there for that
      if (previous !== null) await writeAtomic(this.path, previous);
      throw err;
    }
    await this.reload();
    if (this.cfg.reloadCommand?.length && this.cfg.socket) await this.untilServed(split);
  }

  /**
   * A reload returns before the new worker runs the new file (the master starts it, then the runtime
   * socket answers for it): wait until the socket knows every server of the split, at most 15 s.
   */
  private async untilServed(split: TrafficSplit): Promise<void> {
    const socket = this.socket('configure');
    const deadline = Date.now() + 15_000;
    let last = '';
    for (;;) {
      try {
        for (const s of haproxyServers(split)) await haproxyWeight(socket, `${this.backend}/${s.name}`);
        return;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline)
        throw new TrafficRouterError(
          `route ${this.cfg.route}: after the reload HAProxy does not serve the new configuration within 15 s (${last})`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async shift(split: TrafficSplit): Promise<void> {
    const socket = this.socket('shift');
    const current = await this.rendered();
    if (splitShape(current) !== splitShape(split)) {
      throw new TrafficRouterError(
        `route ${this.cfg.route}: a shift changes only weights, but this split changes the servers, header or sticky cookie; use configure() (a reload)`,
      );
    }
    const before = new Map(haproxyServers(current).map((s) => [s.name, s]));
    const after = haproxyServers(split);
    // Servers that gain traffic first, then those that lose it: the backend never has no usable server.
    const up = after.filter((s) => !s.disabled);
    const down = after.filter((s) => s.disabled);
    try {
      for (const s of up) {
        if (before.get(s.name)?.disabled !== false) await haproxySet(socket, `set server ${this.backend}/${s.name} state ready`);
        await haproxySet(socket, `set weight ${this.backend}/${s.name} ${s.weight}`);
      }
      for (const s of down) {
        await haproxySet(socket, `set weight ${this.backend}/${s.name} 0`);
        await haproxySet(socket, `set server ${this.backend}/${s.name} state maint`);
      }
    } catch (err) {
      throw new TrafficRouterError(
        `route ${this.cfg.route}: the shift is partly applied (${(err as Error).message}); shift again, or configure() to reload the file, which still holds the previous split`,
      );
    }
    await writeAtomic(this.path, renderHaproxy(this.cfg.route, this.backend, split));
  }

  async distribution(): Promise<Record<string, number>> {
    const socket = this.socket('distribution');
    const raw: Record<string, number> = {};
    for (const s of haproxyServers(await this.rendered())) {
      raw[s.variation] = (raw[s.variation] ?? 0) + (await haproxyWeight(socket, `${this.backend}/${s.name}`));
    }
    return toPercent(raw);
  }

  async validate(): Promise<void> {
    await this.rendered();
    if (this.cfg.validateCommand?.length) await runCommand('validate', this.cfg.validateCommand);
  }

  async reload(): Promise<void> {
    if (this.cfg.reloadCommand?.length) await runCommand('reload', this.cfg.reloadCommand);
  }

  private socket(what: string): string {
    if (!this.cfg.socket) {
      throw new TrafficRouterError(
        `haproxy traffic router for route ${this.cfg.route} cannot ${what} without the runtime API: set socket (haproxy: "stats socket <path> mode 600 level admin")`,
      );
    }
    return this.cfg.socket;
  }

  private async rendered(): Promise<TrafficSplit> {
    const content = await readFile(this.path, 'utf8').catch((err: Error) => {
      throw new TrafficRouterError(`cannot read ${this.path} for route ${this.cfg.route} (${err.message}): configure the route first`);
    });
    const split = renderedSplit(content);
    if (!split)
      throw new TrafficRouterError(`${this.path} was not rendered by Gantry for route ${this.cfg.route}: configure the route to render it`);
    return split;
  }
}
