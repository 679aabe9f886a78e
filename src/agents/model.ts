// Agents: response schemas for the read API (registration and heartbeats come with the agent protocol).
import { z } from 'zod';

export const agent = z.object({
  id: z.uuid(),
  name: z.string(),
  version: z.string(),
  capabilities: z.record(z.string(), z.unknown()).describe('What the agent can do, as it reported at registration.'),
  status: z.enum(['online', 'degraded', 'offline']),
  lastHeartbeat: z.string().nullable(),
  revokedAt: z.string().nullable(),
  createdAt: z.string(),
});
export type Agent = z.infer<typeof agent>;

export const agentRef = z.strictObject({
  ref: z.string().min(1).max(100).describe('Agent id or name'),
});
