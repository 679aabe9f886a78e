// Agents: schemas for the read API and the agent protocol (join tokens, registration, heartbeats, rotation).
import { z } from 'zod';

export const agent = z.object({
  id: z.uuid(),
  name: z.string(),
  version: z.string(),
  capabilities: z.record(z.string(), z.unknown()).describe('What the agent can do, as it reported at registration.'),
  labels: z.record(z.string(), z.string()),
  resources: z.record(z.string(), z.unknown()),
  statusReason: z.string().nullable(),
  status: z.enum(['online', 'degraded', 'offline']),
  lastHeartbeat: z.string().nullable(),
  revokedAt: z.string().nullable(),
  createdAt: z.string(),
  certificates: z
    .array(
      z.object({
        fingerprint: z.string().describe('sha256:<hex> of the DER certificate.'),
        serial: z.string().nullable().describe('Upper-case hex; null for a certificate revoked by fingerprint before it was seen.'),
        subject: z.string(),
        notAfter: z.string().nullable(),
        firstSeenAt: z.string(),
        revokedAt: z.string().nullable(),
      }),
    )
    .optional()
    .describe('Client certificates the agent presented over mutual TLS (on get and revoke, not in lists).'),
});
export type Agent = z.infer<typeof agent>;

export const agentRef = z.strictObject({
  ref: z.string().min(1).max(100).describe('Agent id or name'),
});

export const revokeBody = z
  .strictObject({
    certificate: z
      .string()
      .max(200)
      .optional()
      .describe(
        'Revoke only this client certificate (SHA-256 fingerprint, "sha256:<hex>" or openssl\'s "AB:CD:…"), even one the agent never presented; the agent and its credential stay. Without it the whole agent is revoked.',
      ),
  })
  .nullish();

const labelMap = z.record(z.string().max(63), z.string().max(256));

export const joinTokenCreate = z.strictObject({
  description: z.string().max(200).optional(),
  expiresInSeconds: z
    .number()
    .int()
    .min(60)
    .max(30 * 86_400)
    .default(3600)
    .describe('How long the token can be used (once).'),
  labels: labelMap.optional().describe('Labels the registering agent gets.'),
});

export const joinTokenCreated = z.object({
  id: z.uuid(),
  token: z.string().describe('Shown once; give it to `gantry agent run --join-token`.'),
  expiresAt: z.string(),
});

export const capabilities = z
  .looseObject({
    executors: z.array(z.string().max(50)).max(20).default([]).describe('Target types this agent deploys to, e.g. docker_host.'),
    engines: z.record(z.string(), z.string()).optional().describe('Engine versions, e.g. {"docker": "20.10.24"}.'),
    labels: labelMap.optional(),
    actions: z
      .array(z.string().max(50))
      .max(10)
      .optional()
      .describe('Task actions the agent runs; only agents listing "remove" get removal tasks (rollback of a first-ever deployment).'),
  })
  .describe('What the agent can do.');

export const registerBody = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/, 'lowercase letters, digits, ".", "_" or "-"')
    .describe('Agent name, unique in the tenant.'),
  version: z.string().max(50).default(''),
  capabilities: capabilities.default({ executors: [] }),
});

export const registered = z.object({
  agentId: z.uuid(),
  name: z.string(),
  tenantId: z.uuid(),
  credential: z.string().describe('The agent credential; store it with mode 0600. Only its hash is kept on the server.'),
  heartbeatInterval: z.number().describe('Seconds between heartbeats.'),
  taskPollInterval: z.number().describe('Seconds between task polls when idle.'),
});

export const heartbeatBody = z.strictObject({
  sessionId: z.string().min(8).max(100).describe('Random per agent process: a new session releases the tasks of the old one.'),
  version: z.string().max(50).optional(),
  capabilities: capabilities.optional(),
  resources: z.record(z.string(), z.unknown()).optional().describe('Resource use, e.g. {"loadavg": 0.4, "rssBytes": 1e8}.'),
  degraded: z.string().max(500).optional().describe('Set when an executor is unhealthy: the reason.'),
});

export const heartbeatReply = z.object({
  status: z.enum(['online', 'degraded', 'offline']),
  heartbeatInterval: z.number(),
  taskPollInterval: z.number(),
  features: z
    .array(z.string())
    .optional()
    .describe(
      'What this server supports beyond the first agent protocol: lease_wait (a lease request may wait for work), task_batches (…/tasks/start and …/tasks/report take several tasks).',
    ),
  observe: z
    .array(
      z.object({
        targetId: z.uuid(),
        name: z.string(),
        type: z.string(),
        connection: z.record(z.string(), z.unknown()),
        labels: z.record(z.string(), z.string()),
        components: z.array(z.object({ name: z.string(), image: z.string() })),
      }),
    )
    .describe('Targets whose running state the agent should report now (drift checks).'),
});

export const rotated = z.object({ credential: z.string() });
