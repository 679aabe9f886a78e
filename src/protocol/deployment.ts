// The deployment wire protocol shared by the server and agents: strategy config (one shape for every
// strategy, DESIGN §5), the task an agent leases, what it reports back, stickers and their hashes.
// Pure schemas and functions: imports nothing of the server, so the agent can share it.
import { z } from 'zod';

export const STRATEGIES = ['all_at_once', 'rolling', 'canary', 'blue_green'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export const healthCheck = z.strictObject({
  type: z.enum(['http', 'tcp', 'container', 'none']).default('container').describe('What proves a component healthy.'),
  path: z.string().max(500).default('/').describe('HTTP path for type http.'),
  port: z
    .union([z.number().int().min(1).max(65535), z.string().max(200)])
    .optional()
    .describe('Port for http/tcp; a template such as "${label.port.web}" (default: the service port).'),
  timeout: z.number().min(0.1).max(300).default(2).describe('Seconds one probe may take.'),
  retries: z.number().int().min(0).max(1000).default(10).describe('Probes after the first before giving up.'),
  interval: z.number().min(0).max(300).default(1).describe('Seconds between probes.'),
});
export type HealthCheck = z.infer<typeof healthCheck>;

export const serviceSpec = z.strictObject({
  command: z.array(z.string().max(1000)).max(100).optional().describe('Container command; strings may use templates.'),
  env: z.record(z.string(), z.string().max(4000)).optional(),
  port: z.string().max(200).optional().describe('The port the service listens on (template), used by http/tcp health checks.'),
  healthCheck: healthCheck.partial().optional(),
});
export type ServiceSpec = z.infer<typeof serviceSpec>;

export const routerConfig = z.strictObject({
  type: z.enum(['nginx', 'traefik']).describe('File-based switch: an nginx upstream file or a Traefik file-provider config.'),
  path: z
    .string()
    .min(1)
    .max(1000)
    .describe('File to write on the target host (template, e.g. /etc/nginx/gantry/${target.name}.conf; may use ${component}).'),
  format: z
    .enum(['upstream', 'servers', 'live'])
    .default('upstream')
    .describe(
      'nginx: "upstream" writes a whole upstream block per target and component; "servers" writes only its `server` lines, for an `include` inside an upstream block shared by several targets; "live" writes only the address, read on every request by the njs module gantry-route.js, so a switch needs no reload and closes no connection (reloadCommand and validateCommand are not run).',
    ),
  reloadCommand: z.array(z.string()).max(20).optional().describe('Run after the switch, e.g. ["nginx","-s","reload"].'),
  validateCommand: z
    .array(z.string())
    .max(20)
    .optional()
    .describe('Run after writing and before reloading, e.g. ["nginx","-t"]; a failure restores the previous file.'),
  pidFile: z
    .string()
    .max(1000)
    .optional()
    .describe(
      "nginx: the master's pid file. With it the agent confirms a reload (new workers started) and drains (the previous workers exited).",
    ),
  confirmTimeoutSeconds: z.number().min(1).max(300).default(10).describe('nginx: how long a reload may take to be confirmed.'),
});
export type RouterConfig = z.infer<typeof routerConfig>;

export const strategyConfig = z.strictObject({
  maxConcurrent: z.number().int().min(1).max(100_000).optional().describe('Targets deployed at once (all_at_once).'),
  batchSize: z.number().int().min(1).max(100_000).optional().describe('Targets per rolling batch.'),
  batchPercent: z.number().min(1).max(100).optional().describe('Or: percent of targets per rolling batch.'),
  maxFailures: z.number().int().min(0).max(100_000).default(0).describe('Failed targets tolerated before the job fails.'),
  waves: z.array(z.number().min(1).max(100)).max(20).optional().describe('Canary waves as cumulative percentages, e.g. [10, 50, 100].'),
  waitTimeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(604_800)
    .optional()
    .describe(
      'Seconds a task may wait with no online agent able to serve it before it fails (default GANTRY_TASK_WAIT_TIMEOUT_SECONDS, 600).',
    ),
  approvalBetweenWaves: z.boolean().default(false).describe('Canary: wait for POST /deployments/{id}/resume between waves.'),
  verifySeconds: z.number().min(0).max(3600).default(0).describe('Canary: seconds to keep watching health after a wave.'),
  healthCheck: healthCheck.optional(),
  failureBehavior: z.enum(['rollback', 'continue', 'pause']).optional(),
  router: routerConfig
    .optional()
    .describe(
      'How traffic is switched. docker_host: with a router every strategy starts the new container beside the old one (ports per ${color}), switches, drains, then stops the old one.',
    ),
  drainSeconds: z
    .number()
    .min(0)
    .max(3600)
    .optional()
    .describe(
      'After a router switch: how long (at most) the old containers may go on answering requests in flight before they are stopped (default 5).',
    ),
  stopGraceSeconds: z
    .number()
    .int()
    .min(0)
    .max(3600)
    .optional()
    .describe('Seconds between SIGTERM and SIGKILL when a container is stopped (default 10).'),
  services: z.record(z.string(), serviceSpec).optional().describe('Per component: command, env, port, health check.'),
});
export type StrategyConfig = z.infer<typeof strategyConfig>;

export const taskComponent = z.object({
  name: z.string(),
  image: z.string().describe('Repository without tag or digest.'),
  digest: z.string(),
  previousDigest: z.string().nullable(),
});
export type TaskComponent = z.infer<typeof taskComponent>;

/** What an agent receives for one leased task. */
export const agentTask = z.object({
  taskId: z.uuid(),
  jobId: z.uuid(),
  attempt: z.number().int(),
  fencingToken: z
    .number()
    .int()
    .min(1)
    .describe("This lease's fencing token: sent with start, logs and the report; a newer lease of the task makes it stale."),
  mode: z.enum(['deploy', 'rollback']),
  action: z
    .enum(['deploy', 'remove'])
    .default('deploy')
    .describe(
      'deploy: run the components (pinned digests). remove: take away what Gantry created on the target (its component containers, compose project and sticker) — the rollback of a target\'s first-ever deployment. Only leased to runners that declare the capability actions: ["remove"].',
    ),
  strategy: z.enum(STRATEGIES),
  leaseExpiresAt: z.string(),
  target: z.object({
    id: z.uuid(),
    name: z.string(),
    type: z.enum(['docker_host', 'compose_host', 'ssh_host']),
    connection: z.record(z.string(), z.unknown()),
    labels: z.record(z.string(), z.string()),
  }),
  release: z.object({ id: z.uuid(), name: z.string() }),
  promotionId: z.string().nullable(),
  environment: z.object({ id: z.uuid(), name: z.string() }),
  components: z.array(taskComponent),
  config: strategyConfig,
});
export type AgentTask = z.infer<typeof agentTask>;

export const observedComponent = z.object({
  component: z.string(),
  containerName: z.string(),
  containerId: z.string().nullable(),
  image: z.string().nullable().describe('The image reference the container was created from.'),
  digest: z.string().nullable().describe('The digest of the running image (from the engine), when known.'),
  running: z.boolean(),
  labels: z.record(z.string(), z.string()).default({}),
  observedAt: z.string().optional().describe('When the runner observed the container (ISO 8601); task reports always carry it.'),
  health: z
    .object({
      status: z.enum(['healthy', 'unhealthy', 'skipped', 'absent']),
      detail: z.string().max(2000),
      probes: z.number().int().optional(),
    })
    .optional()
    .describe(
      "Task reports: the health result of the component's container after the change (skipped: the noop executor probes nothing; absent: a removal left no container).",
    ),
});
export type ObservedComponent = z.infer<typeof observedComponent>;

export const artifactIn = z.object({
  name: z.string().min(1).max(200),
  mediaType: z.string().max(100).default('text/plain'),
  content: z.string().max(1_000_000),
});

export const stickerIn = z.object({ content: z.record(z.string(), z.unknown()), contentHash: z.string() });

export const taskReport = z.strictObject({
  attempt: z.number().int(),
  fencingToken: z.number().int().min(1).describe('The fencing token of the lease the task ran under.'),
  status: z.enum(['succeeded', 'failed']),
  error: z.string().max(4000).optional(),
  sticker: stickerIn.optional(),
  artifacts: z.array(artifactIn).max(20).default([]),
  observed: z.array(observedComponent).max(100).default([]),
  health: z.record(z.string(), z.unknown()).optional(),
});
export type TaskReport = z.infer<typeof taskReport>;

export const observationIn = z.strictObject({
  targetId: z.uuid(),
  components: z.array(observedComponent).max(100),
  sticker: stickerIn.nullable(),
  error: z.string().max(4000).optional(),
});
export type Observation = z.infer<typeof observationIn>;

export * from './deployment-values.js';
