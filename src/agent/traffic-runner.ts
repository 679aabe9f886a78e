// Applies the traffic changes of progressive rollouts that an agent leased with its tasks: configure the
// route (the set of servers changed) or shift its split, read back the distribution the router serves,
// and report it. A router that refuses a change keeps its previous split; the report says why.
import type { TrafficChange, TrafficReport } from '../protocol/traffic.js';
import { trafficRouterFor } from './traffic/index.js';

export async function applyTrafficChange(change: TrafficChange): Promise<Omit<TrafficReport, 'attempt'>> {
  const log: string[] = [];
  const weights = change.split.variations.map((v) => `${v.name} ${v.weight}%`).join(', ');
  try {
    const router = trafficRouterFor(change.router);
    if (change.mode === 'configure') await router.configure(change.split);
    else await router.shift(change.split);
    const distribution = await router.distribution();
    log.push(
      `${change.router.type} route ${change.router.route} on ${change.target.name}: ${change.mode} to ${weights}; serves ${JSON.stringify(distribution)}`,
    );
    return { status: 'applied', distribution, log };
  } catch (err) {
    const message = (err as Error).message;
    log.push(
      `${change.router.type} route ${change.router.route} on ${change.target.name}: ${change.mode} to ${weights} failed: ${message}`,
    );
    return { status: 'failed', error: message.slice(0, 4000), log };
  }
}
