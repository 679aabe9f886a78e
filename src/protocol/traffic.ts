// The traffic wire protocol of progressive delivery, shared by the server and agents: how a router on a
// target is set up for a route (traffic router config) and the split it should apply between the
// variations of a release (weights, a header that selects one, sticky cookies). Pure schemas that
// import nothing of the server.
import { z } from 'zod';

const name = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'lower-case letters, digits and dashes, starting with a letter (at most 40)');

export const trafficServer = z.strictObject({
  host: z.string().min(1).max(255).describe('Address the router connects to (IP literal or host name).'),
  port: z.number().int().min(1).max(65535),
});
export type TrafficServer = z.infer<typeof trafficServer>;

export const trafficVariation = z.strictObject({
  name: name.describe('Variation name, e.g. "a" (stable) and "b" (the new release).'),
  servers: z.array(trafficServer).min(1).max(100).describe("The variation's serving addresses."),
  weight: z.number().int().min(0).max(100).describe('Percent of the requests that no header or cookie decides.'),
});
export type TrafficVariation = z.infer<typeof trafficVariation>;

export const trafficSplit = z
  .strictObject({
    variations: z.array(trafficVariation).min(1).max(10),
    header: z
      .strictObject({
        name: z
          .string()
          .regex(/^[A-Za-z0-9-]{1,64}$/)
          .describe('Request header, e.g. X-Gantry-Variation.'),
        value: z.string().min(1).max(200).describe('Requests whose header equals this value go to `variation`.'),
        variation: name,
      })
      .optional()
      .describe('Header split: the marked requests always go to one variation (testers, internal users).'),
    sticky: z
      .strictObject({
        cookie: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/)
          .describe('Cookie that keeps a client on the variation it was first sent to.'),
      })
      .optional()
      .describe('Sticky sessions: a client keeps its variation while that variation has weight.'),
  })
  .refine((s) => s.variations.reduce((n, v) => n + v.weight, 0) === 100, { message: 'the weights of the variations add up to 100' })
  .refine((s) => new Set(s.variations.map((v) => v.name)).size === s.variations.length, { message: 'variation names are unique' })
  .refine((s) => !s.header || s.variations.some((v) => v.name === s.header!.variation), {
    message: 'header.variation names one of the variations',
  });
export type TrafficSplit = z.infer<typeof trafficSplit>;

export const trafficRouterConfig = z.strictObject({
  type: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,39}$/)
    .describe('"nginx" (njs split file, no reload), "haproxy" (runtime API, no reload), or "exec" (a third-party router program).'),
  route: name.describe('The route this router serves (one split per route).'),
  path: z
    .string()
    .min(1)
    .max(1000)
    .optional()
    .describe('nginx: the split file gantry-split.js reads on every request. haproxy: the configuration file Gantry renders.'),
  socket: z.string().max(1000).optional().describe("haproxy: the runtime API's unix socket (stats socket … level admin)."),
  backend: z.string().max(100).optional().describe('haproxy: the backend holding the variations (default gantry_<route>).'),
  validateCommand: z
    .array(z.string().max(1000))
    .max(20)
    .optional()
    .describe('Checks a rendered configuration, e.g. ["haproxy","-c","-f",…].'),
  reloadCommand: z
    .array(z.string().max(1000))
    .max(20)
    .optional()
    .describe('Makes the proxy read a configuration it cannot change at run time.'),
  command: z
    .array(z.string().max(1000))
    .max(20)
    .optional()
    .describe('exec: the router program; it gets {"action","route","split"} as JSON on stdin and answers JSON on stdout.'),
});
export type TrafficRouterConfig = z.infer<typeof trafficRouterConfig>;

/** What an agent receives for one leased traffic change. */
export const trafficChange = z.object({
  id: z.uuid(),
  attempt: z.number().int().min(1),
  rolloutId: z.uuid(),
  target: z.object({ id: z.uuid(), name: z.string() }),
  router: trafficRouterConfig,
  split: trafficSplit,
  mode: z.enum(['configure', 'shift']).describe('configure: the set of servers changed (full render); shift: only the split.'),
});
export type TrafficChange = z.infer<typeof trafficChange>;

export const trafficReport = z.strictObject({
  attempt: z.number().int().min(1),
  status: z.enum(['applied', 'failed']),
  distribution: z.record(z.string(), z.number()).optional(),
  error: z.string().max(4000).optional(),
  log: z.array(z.string().max(2000)).max(200).default([]),
});
export type TrafficReport = z.infer<typeof trafficReport>;
