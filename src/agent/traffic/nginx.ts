// nginx as a traffic router: the split is a JSON file (the router's path) that share/nginx/gantry-split.js
// reads on every request, so configure() and shift() are the same atomic rename and neither needs a
// reload (a reloadCommand, when given, runs after configure() only: e.g. the first time the location is
// added). The file is the wire split itself, wrapped with the route it serves.
import { readFile } from 'node:fs/promises';
import { type TrafficRouterConfig, type TrafficSplit, trafficSplit } from '../../protocol/traffic.js';
import { runCommand, writeAtomic } from './support.js';
import { type TrafficRouter, TrafficRouterError } from './types.js';

/** What gantry-split.js reads: `split` is a TrafficSplit. */
export interface NginxSplitFile {
  gantry: 'traffic-split/1';
  route: string;
  split: TrafficSplit;
}

export function renderNginxSplit(route: string, split: TrafficSplit): string {
  const file: NginxSplitFile = { gantry: 'traffic-split/1', route, split };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** The split in a file written by renderNginxSplit, checked as the wire schema checks it. */
export function parseNginxSplit(content: string, where: string): TrafficSplit {
  let raw: unknown;
  try {
    raw = JSON.parse(content);
  } catch (err) {
    throw new TrafficRouterError(`${where} is not JSON (${(err as Error).message}): configure the route again to rewrite it`);
  }
  const parsed = trafficSplit.safeParse((raw as { split?: unknown } | null)?.split);
  if (!parsed.success) {
    throw new TrafficRouterError(
      `${where} holds no valid split (${parsed.error.issues.map((i) => i.message).join('; ')}): configure the route again to rewrite it`,
    );
  }
  return parsed.data;
}

export class NginxTrafficRouter implements TrafficRouter {
  readonly type = 'nginx';
  private readonly path: string;

  constructor(private readonly cfg: TrafficRouterConfig) {
    if (!cfg.path)
      throw new TrafficRouterError(`nginx traffic router for route ${cfg.route}: set path, the split file gantry-split.js reads`);
    this.path = cfg.path;
  }

  async configure(split: TrafficSplit): Promise<void> {
    const previous = await readFile(this.path, 'utf8').catch(() => null);
    await writeAtomic(this.path, renderNginxSplit(this.cfg.route, split));
    try {
      await this.validate();
    } catch (err) {
      // nginx reads the file on the next request: put back what served until now
      if (previous !== null) await writeAtomic(this.path, previous);
      throw err;
    }
    await this.reload();
  }

  async shift(split: TrafficSplit): Promise<void> {
    // nothing to keep from the previous file: the new one is complete and takes effect on the next request
    await writeAtomic(this.path, renderNginxSplit(this.cfg.route, split));
  }

  async distribution(): Promise<Record<string, number>> {
    const split = await this.read();
    return Object.fromEntries(split.variations.map((v) => [v.name, v.weight]));
  }

  async validate(): Promise<void> {
    await this.read();
    if (this.cfg.validateCommand?.length) await runCommand('validate', this.cfg.validateCommand);
  }

  async reload(): Promise<void> {
    if (this.cfg.reloadCommand?.length) await runCommand('reload', this.cfg.reloadCommand);
  }

  private async read(): Promise<TrafficSplit> {
    let content: string;
    try {
      content = await readFile(this.path, 'utf8');
    } catch (err) {
      throw new TrafficRouterError(
        `cannot read the split file ${this.path} of route ${this.cfg.route} (${(err as Error).message}): configure the route first`,
      );
    }
    return parseNginxSplit(content, `split file ${this.path}`);
  }
}
